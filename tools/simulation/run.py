"""Running a unit simulator: ``simulate(code, contexts)`` → one predicted activation per token.

``code`` is what an explanation of a model unit stores in its ``code`` field, in one of two forms:

* **a declarative spec** (JSON, ``tools.simulation.spec``): interpreted here, by trusted code — the
  builtin agent's simulators are data (the words and weights it measured), need no sandbox, and may
  use the sentence embedder (a concept rule), which sandboxed code cannot load;
* **Python source** defining ``def simulate(tokens: list[str]) -> list[float]`` (what an LLM agent
  writes): untrusted, so it runs in the function sandbox (``tools.functions.sandbox``, the same fence
  as suite functions), once per context, and must return one finite number per token.

Tokens are the model tokenizer's pieces decoded one by one (``' Paris'`` with its leading space).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from store.errors import InputError
from tools.functions.sandbox import SandboxLimits, run_function
from tools.simulation.spec import AfterRule, ConceptRule, SimulatorSpec, TableRule, TokenRule, is_spec, parse_spec
from tools.simulation.words import key_of, token_keys, word_index_of

SANDBOX_LIMITS = SandboxLimits(timeout_s=60.0, max_output_chars=100_000)
"""Limits of one sandboxed simulator run (a batch of contexts)."""


def simulate(code: str, contexts: Sequence[list[str]], *, limits: SandboxLimits = SANDBOX_LIMITS) -> list[list[float]]:
    """The simulator ``code`` applied to each context: one list of predictions per context, one value per
    token. One-line `InputError` when the code is neither a valid spec nor Python defining ``simulate``,
    or when it fails or returns the wrong shape on a context."""
    if is_spec(code):
        return run_spec(parse_spec(code), contexts)
    return _run_python(code, contexts, limits)


def run_spec(spec: SimulatorSpec, contexts: Sequence[list[str]]) -> list[list[float]]:
    """Interpret a declarative spec on each context."""
    indexed = [word_index_of(tuple(tokens)) for tokens in contexts]
    per_rule = [_rule_values(rule, contexts, indexed) for rule in spec.rules]
    out: list[list[float]] = []
    for c, tokens in enumerate(contexts):
        row = []
        for i in range(len(tokens)):
            values = [v for rule_values in per_rule if (v := rule_values[c][i]) is not None]
            if not values:
                row.append(0.0)
            else:
                row.append(max(values) if spec.combine == "max" else sum(values))
        out.append(row)
    return out


def _rule_values(
    rule: TokenRule | AfterRule | TableRule | ConceptRule,
    contexts: Sequence[list[str]],
    indexed: list[tuple[list[str], list[int]]],
) -> list[list[float | None]]:
    """Each token's value under one rule; None where the rule does not name the token."""
    if isinstance(rule, ConceptRule):
        return _concept(rule, indexed)
    if isinstance(rule, TableRule):
        return [_table(rule, tokens) for tokens in contexts]
    out: list[list[float | None]] = []
    for tokens, (keys, owner) in zip(contexts, indexed, strict=True):
        row: list[float | None] = []
        for i, token in enumerate(tokens):
            w = owner[i]
            if isinstance(rule, TokenRule):
                value = rule.weights.get(keys[w]) if rule.match == "word" and w >= 0 else None
                if value is None:
                    value = rule.weights.get(key_of(token))
            else:
                before = [rule.words.get(keys[j]) for j in range(max(0, w - rule.within), w)] if w >= 0 else []
                hits = [v for v in before if v is not None]
                value = max(hits) if hits else None
            row.append(float(value) if value is not None else None)
        out.append(row)
    return out


def _table(rule: TableRule, tokens: list[str]) -> list[float | None]:
    keys = token_keys(tuple(tokens))
    row: list[float | None] = []
    for i, key in enumerate(keys):
        before = rule.pairs.get(key)
        value = before.get(keys[i - 1]) if before and i > 0 else None
        if value is None:
            value = rule.tokens.get(key, rule.default)
        row.append(float(value))
    return row


def _concept(rule: ConceptRule, indexed: list[tuple[list[str], list[int]]]) -> list[list[float | None]]:
    from tools.functions.entity_neuron import get_embedder  # loads torch and MiniLM: only when needed

    words = sorted({k for keys, _ in indexed for k in keys if sum(c.isalpha() for c in k) >= 2})
    embedder = get_embedder()
    vectors = embedder.embed([rule.query, *words])
    cosines = (vectors[1:] @ vectors[0]).tolist()
    span = 1.0 - rule.threshold
    value = {
        w: rule.weight * (c - rule.threshold) / span for w, c in zip(words, cosines, strict=True) if c > rule.threshold
    }
    return [[value.get(keys[w]) if w >= 0 else None for w in owner] for keys, owner in indexed]


def _run_python(code: str, contexts: Sequence[list[str]], limits: SandboxLimits) -> list[list[float]]:
    result = run_function(code, [list(c) for c in contexts], limits=limits, entry="simulate")
    if result.error:
        raise InputError(f"simulator: {result.error}")
    out: list[list[float]] = []
    for outcome, tokens in zip(result.outcomes, contexts, strict=True):
        if outcome.error:
            raise InputError(f"simulator failed on a context: {outcome.error}")
        values = outcome.output
        if not isinstance(values, list) or len(values) != len(tokens):
            raise InputError(f"simulator returned {type(values).__name__} for {len(tokens)} tokens, not a list of them")
        row = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise InputError(f"simulator returned {v!r}: each prediction must be a finite number")
            row.append(float(v))
        out.append(row)
    return out
