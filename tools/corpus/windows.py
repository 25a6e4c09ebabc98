"""Cut a corpus into fixed-length token windows, deterministically (the exemplar cache's contexts).

Documents are tokenized without special tokens, separated by a blank line, concatenated, and cut
into windows of ``ctx_len`` tokens (the delphi scheme). When the tokenizer adds special tokens at
the start of a sequence by default (a BOS), every window starts with them, as the model expects.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class TextSource(Protocol):
    """Anything with a re-iterable ``texts()`` (the corpora of ``tools.corpus.sources``)."""

    def texts(self) -> Iterator[str]:
        """Documents in a deterministic order."""
        ...


def default_prefix(tokenizer: Any) -> list[int]:
    """Special tokens the tokenizer puts before any text by default (e.g. a BOS), possibly none."""
    with_special = list(tokenizer("x")["input_ids"])
    plain = list(tokenizer("x", add_special_tokens=False)["input_ids"])
    if plain and with_special[-len(plain) :] == plain:
        return with_special[: len(with_special) - len(plain)]
    return []


def iter_windows(
    corpus: TextSource, tokenizer: Any, ctx_len: int, max_tokens: int | None = None
) -> Iterator[list[int]]:
    """Yield windows of exactly ``ctx_len`` tokens (prefix included) until ``max_tokens`` are used."""
    prefix = default_prefix(tokenizer)
    body = ctx_len - len(prefix)
    if body < 2:
        raise ValueError(f"context length {ctx_len} is too short for the tokenizer's {len(prefix)}-token prefix")
    separator = list(tokenizer("\n\n", add_special_tokens=False)["input_ids"])
    buffer: list[int] = []
    emitted = 0
    for text in corpus.texts():
        buffer.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
        buffer.extend(separator)
        while len(buffer) >= body:
            if max_tokens is not None and emitted + ctx_len > max_tokens:
                return
            yield prefix + buffer[:body]
            emitted += ctx_len
            del buffer[:body]
    # A trailing partial window is dropped: every context has the same length.
