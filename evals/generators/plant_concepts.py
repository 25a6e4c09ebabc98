"""Concept word lists for planted units (``evals.generators.planted``), read from
``evals/generators/data/plant_concepts.json``.

Twenty everyday noun concepts, 7–15 words each, written without the leading space; every word is a
single token with a leading space in the SmolLM2 tokenizer (``" cat"`` is one token), and no word is
shared between concepts, so a word belongs to exactly one concept. These lists differ on purpose
from the entity concepts of the same name (``evals.generators.entity_concepts``): the data folder's
README says how and why. The file is read by `store.datafiles.load_data` and validated as
``dict[str, list[str]]`` of non-empty words (a malformed edit is a ConfigError naming the file and
the field).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints

from store.datafiles import load_data

__all__ = ["CONCEPTS", "DATA_FILES", "PACKAGE"]

PACKAGE = "evals.generators"

Word = Annotated[str, StringConstraints(pattern=r"^\S+$")]
"""One word: non-empty, no white space."""
Phrase = Annotated[str, StringConstraints(pattern=r"^\S(?:.*\S)?$")]
"""A concept name: non-empty, no leading or trailing white space."""

DATA_FILES: dict[str, Any] = {"plant_concepts.json": dict[Phrase, list[Word]]}
"""The data file this module reads and its schema (``tests/test_datafiles.py``)."""

CONCEPTS: dict[str, list[str]] = {
    concept: list(words)
    for concept, words in load_data(PACKAGE, "plant_concepts.json", DATA_FILES["plant_concepts.json"]).items()
}
"""Concept -> its words, in the file's order (the first four of an unplanted concept are calibration negatives)."""
