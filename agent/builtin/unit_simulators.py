"""The simulators the builtin's unit policy writes into its explanations (``tools.simulation.spec``).

Every number in them was measured by the policy's own experiments. The core is a **fitted token
table** (`fit_table`): every token the policy saw the unit respond to — the exemplars' whole contexts
(top and per-quantile), the word survey's sentences, the hypothesis tests' texts — gives one
observation (position 0, the attention sink, left out). A token's value is its mean activation
relative to the unit's typical (median) activation, shrunk toward that typical value by one pseudo
observation (a token seen once counts half); a (previous token, token) pair seen in the data
overrides it the same way, shrunk toward the token's own value. Values may be negative: a table says
where the unit sits below its typical level too. Entries that say nothing new (a token within 1% of
the typical value, a pair within 2% of its token's value, of the table's largest value) are dropped.

On top of the table, what the hypothesis tests established (`unit_simulator`):

* **the token after <word>** (a tested, supported context hypothesis): an ``after`` rule with the mean
  positive score, which reaches tokens the data never showed after that word;
* **a concept** (a tested, supported "words about X" hypothesis): a ``concept`` rule scoring every word
  by its MiniLM similarity to the responding words, weighted by the best survey score.

`one_shot_simulator` is the baseline without experiments: the tokens at the peaks of the top
exemplars, each with its activation.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from agent.builtin.unit_hypotheses import Context, Hypothesis, mean
from tools.simulation.spec import AfterRule, ConceptRule, SimulatorSpec, TableRule, TokenRule
from tools.simulation.words import key_of, token_keys

PRIOR = 1.0
"""Pseudo observations at the typical value (a token) or at the token's value (a pair)."""
DROP_TOKEN = 0.01
"""Tokens closer than this share of the table's largest value to the typical value are left out."""
DROP_PAIR = 0.02
"""Pairs closer than this share of the table's largest value to their token's value are left out."""
CONCEPT_THRESHOLD = 0.35
"""Cosine below which a word is not about the concept (MiniLM, single words)."""

Observation = tuple[Sequence[str], Sequence[float]]
"""One text the unit was run on: its tokens and the unit's activation at each."""


def _rounded(value: float) -> float:
    return float(f"{value:.4g}")


def fit_table(observations: Sequence[Observation]) -> TableRule | None:
    """The fitted token table of a unit (module docstring); None without any observation."""
    seen: set[tuple[str, ...]] = set()
    singles: dict[str, list[float]] = {}
    pairs: dict[tuple[str, str], list[float]] = {}
    values: list[float] = []
    for tokens, acts in observations:
        if len(tokens) != len(acts) or tuple(tokens) in seen:  # an exemplar may be both top and in a quantile
            continue
        row = tuple(tokens)
        seen.add(row)
        keys = token_keys(row)
        for i in range(1, len(keys)):
            singles.setdefault(keys[i], []).append(acts[i])
            pairs.setdefault((keys[i - 1], keys[i]), []).append(acts[i])
            values.append(acts[i])
    if not values:
        return None
    typical = statistics.median(values)
    single = {k: (sum(v) - typical * len(v)) / (len(v) + PRIOR) for k, v in singles.items()}
    pair = {(p, k): (sum(v) - typical * len(v) + PRIOR * single[k]) / (len(v) + PRIOR) for (p, k), v in pairs.items()}
    scale = max((abs(v) for v in [*single.values(), *pair.values()]), default=0.0)
    if scale <= 0:
        return None
    table = TableRule(tokens={k: _rounded(v) for k, v in single.items() if abs(v) >= DROP_TOKEN * scale})
    for (p, k), v in pair.items():
        if abs(v - single[k]) >= DROP_PAIR * scale:
            table.pairs.setdefault(k, {})[p] = _rounded(v)
    return table


def unit_simulator(
    observations: Sequence[Observation], chosen: Hypothesis | None, survey: dict[str, float]
) -> SimulatorSpec | None:
    """The simulator of a unit explanation (module docstring); None when the unit never varied."""
    rules: list[TableRule | AfterRule | ConceptRule] = []
    table = fit_table(observations)
    if table is not None:
        rules.append(table)
    if chosen is not None and chosen.supported and chosen.kind == "context" and chosen.keys:
        rules.append(AfterRule(words={chosen.keys[0]: _rounded(mean(chosen.pos))}))
    if chosen is not None and chosen.supported and chosen.kind == "concept" and survey:
        rules.append(
            ConceptRule(
                query=", ".join(chosen.keys[:8]), weight=_rounded(max(survey.values())), threshold=CONCEPT_THRESHOLD
            )
        )
    return SimulatorSpec(rules=rules) if rules else None


def one_shot_simulator(contexts: list[Context]) -> SimulatorSpec | None:
    """The baseline: the token at each top context's peak → its activation (the largest when repeated),
    matched token by token; None when no context has a positive peak."""
    weights: dict[str, float] = {}
    for c in contexts:
        if c.value > 0:
            token = key_of(c.tokens[c.peak])
            weights[token] = max(weights.get(token, 0.0), round(c.value, 4))
    return SimulatorSpec(rules=[TokenRule(weights=weights, match="token")]) if weights else None
