"""The `Corpus` interface shared by every corpus source."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator


class Corpus(ABC):
    """A re-iterable source of text documents, identified by a spec string and a content digest.

    `spec` is what `tools.corpus.sources.load_corpus` accepts to build this corpus again, e.g.
    ``"builtin"``, ``"builtin:seed=3"``, ``"/data/file.txt"`` or
    ``"hf:wikitext:wikitext-2-raw-v1:train:text"``.
    """

    spec: str

    @abstractmethod
    def texts(self) -> Iterator[str]:
        """Yield the documents in a deterministic order; each call starts over from the first."""

    @abstractmethod
    def digest(self) -> str:
        """Return a sha256 hex digest that changes whenever the documents could change."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"
