"""A corpus streamed from a Hugging Face dataset (needs the optional `datasets` package)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from store.errors import InputError
from tools.corpus.base import Corpus

HF_PREFIX = "hf:"


def parse_hf_spec(spec: str) -> tuple[str, str | None, str, str]:
    """Split ``"hf:NAME[:CONFIG][:SPLIT][:COLUMN]"`` into (name, config, split, column).

    Empty parts take their defaults: no config, split ``"train"``, column ``"text"``.
    """
    if not spec.startswith(HF_PREFIX):
        raise InputError(f"not a Hugging Face corpus spec (expected 'hf:NAME[:CONFIG][:SPLIT][:COLUMN]'): {spec}")
    parts = spec[len(HF_PREFIX) :].split(":")
    if len(parts) > 4:
        raise InputError(f"too many ':' parts in {spec!r} (expected 'hf:NAME[:CONFIG][:SPLIT][:COLUMN]')")
    parts += [""] * (4 - len(parts))
    name, config, split, column = (p.strip() for p in parts)
    if not name:
        raise InputError(f"missing dataset name in {spec!r} (expected 'hf:NAME[:CONFIG][:SPLIT][:COLUMN]')")
    return name, config or None, split or "train", column or "text"


class HFDatasetCorpus(Corpus):
    """Documents from one text column of a Hugging Face dataset split, streamed (nothing is
    downloaded up front). Empty and non-string values are skipped."""

    def __init__(self, spec: str) -> None:
        """Parse `spec`, import `datasets`, and open the stream (errors become `InputError`)."""
        self.name, self.config, self.split, self.column = parse_hf_spec(spec)
        self.spec = spec
        needs = f"{spec} needs the 'datasets' package (pip install autointerp[hf]) and network access"
        try:
            import datasets
        except ImportError:
            raise InputError(needs) from None
        try:
            self._dataset: Any = datasets.load_dataset(self.name, self.config, split=self.split, streaming=True)
        except Exception as exc:  # network, unknown dataset/config/split: all user-fixable
            raise InputError(f"cannot open {spec}: {_one_line(exc)} ({needs})") from None
        features = getattr(self._dataset, "features", None)
        if features is not None and self.column not in features:
            raise InputError(f"{spec}: no column {self.column!r} (columns: {', '.join(features)})")

    def texts(self) -> Iterator[str]:
        """Stream the non-empty strings of the column, in dataset order."""
        try:
            for row in self._dataset:
                value = row.get(self.column)
                if isinstance(value, str) and value.strip():
                    yield value
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"reading {self.spec} failed: {_one_line(exc)}") from None

    def digest(self) -> str:
        """sha256 of the normalised spec (remote content cannot be hashed without reading it)."""
        key = f"hf|{self.name}|{self.config or ''}|{self.split}|{self.column}"
        return hashlib.sha256(key.encode()).hexdigest()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
