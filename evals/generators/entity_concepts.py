"""Concepts for synthetic entity neurons (DESIGN §3), read from ``evals/generators/data/entity_concepts.json``.

``CONCEPTS`` maps a concept phrase (what the neuron "responds to") to 10-12 single lower-case words
that belong to it. `evals.generators.entities` stores the first words of each list as the item's ``members``
and keeps the rest aside as held-out answers for unit tests. ``CATEGORIES`` groups concepts by broad
area, used as item metadata and to draw unit-test distractors from unrelated areas.

The file nests concepts under their area (``{"animals": {"sea animals": [...], ...}, ...}``), so each
concept has exactly one area by construction. It is read by `store.datafiles.load_data` and validated
as `EntityConcepts` (a concept named in two areas, an empty word or a non-list is a ConfigError
naming the file and the field); ``evals/generators/data/README.md`` describes the file.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import RootModel, StringConstraints, model_validator

from store.datafiles import load_data

__all__ = ["CATEGORIES", "CONCEPTS", "DATA_FILES", "PACKAGE", "EntityConcepts", "category_of"]

PACKAGE = "evals.generators"

Word = Annotated[str, StringConstraints(pattern=r"^\S+$")]
"""One word: non-empty, no white space."""
Phrase = Annotated[str, StringConstraints(pattern=r"^\S(?:.*\S)?$")]
"""An area or concept name: non-empty, no leading or trailing white space."""


class EntityConcepts(RootModel[dict[Phrase, dict[Phrase, list[Word]]]]):
    """Broad area -> concept -> its words; a concept belongs to one area only."""

    @model_validator(mode="after")
    def _one_area_per_concept(self) -> EntityConcepts:
        seen: dict[str, str] = {}
        for area, concepts in self.root.items():
            for concept in concepts:
                if concept in seen:
                    raise ValueError(f"concept {concept!r} is in two areas: {seen[concept]!r} and {area!r}")
                seen[concept] = area
        return self


DATA_FILES: dict[str, Any] = {"entity_concepts.json": EntityConcepts}
"""The data file this module reads and its schema (``tests/test_datafiles.py``)."""

_AREAS = load_data(PACKAGE, "entity_concepts.json", EntityConcepts).root

CONCEPTS: dict[str, list[str]] = {c: list(words) for concepts in _AREAS.values() for c, words in concepts.items()}
"""Concept phrase -> its words (in the file's order: held-out positions depend on it)."""

CATEGORIES: dict[str, list[str]] = {area: list(concepts) for area, concepts in _AREAS.items()}
"""Broad area -> its concepts; every concept is in exactly one area."""

_AREA = {concept: area for area, concepts in CATEGORIES.items() for concept in concepts}


def category_of(concept: str) -> str:
    """The broad area of a concept (KeyError for an unknown one)."""
    return _AREA[concept]
