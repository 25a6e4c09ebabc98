"""The declarative unit simulator: JSON that trusted code interprets (``tools.simulation.run``).

A simulator predicts a unit's activation at every token of a context. This format says it as data
(``{"format": "autointerp.simulator/v1", "rules": [...], "combine": "max"}``), so the builtin agent's
simulators (the words and weights it measured) run without a sandbox and may use the sentence
embedder, which sandboxed code cannot load. Each rule gives a value to the tokens it names; ``combine``
takes the largest (``max``) or the sum (``sum``) over the rules that name a token; tokens no rule names
get 0 (so a negative value in one rule is not lifted to 0 by a rule that says nothing of the token).

* ``tokens``: ``weights`` word → activation. ``match="word"`` looks the token's word up (sub-word pieces
  joined, lower-cased: every piece of ``smelled`` gets the weight of ``smelled``), then the token alone;
  ``match="token"`` looks up the token alone.
* ``after``: the tokens of a word that follows one of ``words`` within ``within`` words (1: right
  after) get that word's weight (the largest when several precede).
* ``table``: a fitted token table. ``tokens`` maps a token (compared by its key: lower-cased and
  stripped, ``' Paris'`` → ``paris``) to a value; ``pairs`` maps a token to ``{previous token: value}``
  and, where the token before matches, overrides ``tokens``. Tokens in neither get ``default``. Values
  may be negative (a table says where the unit sits below its typical value too).
* ``concept``: a word's value is ``weight × (cos − threshold) / (1 − threshold))``, ``cos`` the
  cosine between the MiniLM sentence embeddings of the word and of ``query``; words below the
  threshold are not named.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from store.errors import InputError
from tools.simulation.words import key_of

FORMAT: Literal["autointerp.simulator/v1"] = "autointerp.simulator/v1"
"""The ``format`` of a declarative simulator."""
MAX_WORDS = 20_000
"""Most words one rule may weigh."""
MAX_PAIRS = 50_000
"""Most (previous token, token) pairs one table may hold."""


def _keyed(weights: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for word, weight in weights.items():
        if not math.isfinite(weight):
            raise ValueError(f"the weight of {word!r} is not finite")
        key = key_of(word)
        out[key] = max(out.get(key, weight), weight)
    return out


Weights = Annotated[dict[str, float], AfterValidator(_keyed)]
"""Word (or token) → value, keyed as simulators compare words (``key_of``; the largest value when two
spellings share a key); every value finite."""


class TokenRule(BaseModel):
    """Token weights: word (or token) → activation."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tokens"] = "tokens"
    weights: Weights = Field(min_length=1, max_length=MAX_WORDS)
    match: Literal["word", "token"] = "word"


class AfterRule(BaseModel):
    """Preceding context: the word after one of ``words`` (within ``within`` words)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["after"] = "after"
    words: Weights = Field(min_length=1, max_length=MAX_WORDS)
    within: int = Field(1, ge=1, le=64)


class TableRule(BaseModel):
    """A fitted token table: token → value, overridden by (previous token, token) → value."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["table"] = "table"
    tokens: Weights = Field(default_factory=dict, max_length=MAX_WORDS)
    pairs: dict[str, Weights] = Field(default_factory=dict, max_length=MAX_WORDS)
    default: float = Field(0.0, allow_inf_nan=False)

    @field_validator("pairs")
    @classmethod
    def _pair_keys(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        if sum(len(before) for before in value.values()) > MAX_PAIRS:
            raise ValueError(f"a table holds at most {MAX_PAIRS} pairs")
        out: dict[str, dict[str, float]] = {}
        for token, before in value.items():
            out.setdefault(key_of(token), {}).update(before)  # each ``before`` is keyed already
        return out


class ConceptRule(BaseModel):
    """A concept: similarity of each word to ``query`` in the sentence embedder's space."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["concept"] = "concept"
    query: str = Field(min_length=1, max_length=1000)
    weight: float = Field(1.0, allow_inf_nan=False)
    threshold: float = Field(0.3, ge=-1.0, lt=1.0)


Rule = Annotated[TokenRule | AfterRule | TableRule | ConceptRule, Field(discriminator="kind")]


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
