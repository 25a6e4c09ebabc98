"""The declarative unit simulator: JSON that trusted code interprets (``tools.simulation.run``).

A simulator predicts a unit's activation at every token of a context. This format says it as data
(``{"format": "autointerp.simulator/v1", "rules": [...], "combine": "max"}``), so the builtin agent's
simulators (the words and weights it measured) run without a sandbox and may use the sentence
embedder, which sandboxed code cannot load. Each rule gives every token a value; ``combine`` takes the
largest (``max``) or the sum (``sum``) over the rules; tokens no rule names get 0.

* ``tokens``: ``weights`` word → activation. ``match="word"`` looks the token's word up (sub-word pieces
  joined, lower-cased: every piece of ``smelled`` gets the weight of ``smelled``), then the token alone;
  ``match="token"`` looks up the token alone.
* ``after``: the tokens of a word that follows one of ``words`` within ``within`` words (1: right
  after) get that word's weight (the largest when several precede).
* ``concept``: a word's value is ``weight × max(0, (cos − threshold) / (1 − threshold))``, ``cos`` the
  cosine between the MiniLM sentence embeddings of the word and of ``query``.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from store.errors import InputError
from tools.simulation.words import key_of

FORMAT: Literal["autointerp.simulator/v1"] = "autointerp.simulator/v1"
"""The ``format`` of a declarative simulator."""
MAX_WORDS = 20_000
"""Most words one rule may weigh."""


def _keyed(weights: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for word, weight in weights.items():
        if not math.isfinite(weight):
            raise ValueError(f"the weight of {word!r} is not finite")
        key = key_of(word)
        out[key] = max(out.get(key, weight), weight)
    return out


class TokenRule(BaseModel):
    """Token weights: word (or token) → activation."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tokens"] = "tokens"
    weights: dict[str, float] = Field(min_length=1, max_length=MAX_WORDS)
    match: Literal["word", "token"] = "word"

    @field_validator("weights")
    @classmethod
    def _keys(cls, value: dict[str, float]) -> dict[str, float]:
        return _keyed(value)


class AfterRule(BaseModel):
    """Preceding context: the word after one of ``words`` (within ``within`` words)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["after"] = "after"
    words: dict[str, float] = Field(min_length=1, max_length=MAX_WORDS)
    within: int = Field(1, ge=1, le=64)

    @field_validator("words")
    @classmethod
    def _keys(cls, value: dict[str, float]) -> dict[str, float]:
        return _keyed(value)


class ConceptRule(BaseModel):
    """A concept: similarity of each word to ``query`` in the sentence embedder's space."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["concept"] = "concept"
    query: str = Field(min_length=1, max_length=1000)
    weight: float = Field(1.0, allow_inf_nan=False)
    threshold: float = Field(0.3, ge=-1.0, lt=1.0)


Rule = Annotated[TokenRule | AfterRule | ConceptRule, Field(discriminator="kind")]


class SimulatorSpec(BaseModel):
    """A declarative simulator (module docstring)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["autointerp.simulator/v1"] = FORMAT
    rules: list[Rule] = Field(min_length=1, max_length=32)
    combine: Literal["max", "sum"] = "max"

    def dumps(self) -> str:
        """The spec as the JSON text an explanation's ``code`` holds."""
        return json.dumps(self.model_dump(), ensure_ascii=False, sort_keys=True)


def is_spec(code: str) -> bool:
    """Whether ``code`` is a declarative simulator (JSON) rather than Python source."""
    return code.lstrip().startswith("{")


def parse_spec(code: str) -> SimulatorSpec:
    """The spec in ``code``; one-line `InputError` for bad JSON or a bad spec."""
    try:
        return SimulatorSpec.model_validate_json(code)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InputError(f"bad simulator spec at {where or 'top level'}: {first.get('msg')}") from None
