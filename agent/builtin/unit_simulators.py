"""The simulators the builtin's unit policy writes into its explanations (``tools.simulation.spec``).

Every weight is one the policy measured:

* **exemplar words**: each word at the peak of a top context → the mean peak activation of the
  contexts it peaks in; when a word or word-set hypothesis was tested and *not* supported, its words
  are scaled by how much of that strength they kept on new texts (mean positive score ÷ mean exemplar
  peak, at most 1), so a word that did not fire outside its exemplars weighs little;
* **survey words**: each surveyed word whose score in its survey sentence reaches a fifth of the top
  exemplar → that score;
* **the token after <word>** (a tested, supported context hypothesis): an ``after`` rule with the mean
  positive score;
* **a concept** (a tested, supported "words about X" hypothesis): a ``concept`` rule scoring every word
  by its MiniLM similarity to the responding words, weighted by the best survey score.

`one_shot_simulator` is the baseline without experiments: the tokens at the peaks of the top
exemplars, each with its activation.
"""

from __future__ import annotations

from agent.builtin.unit_hypotheses import Context, Hypothesis, mean
from tools.simulation.spec import AfterRule, ConceptRule, SimulatorSpec, TokenRule
from tools.simulation.words import key_of

SURVEY_SHARE = 0.2
"""Survey words scoring at least this share of the top exemplar become token weights."""
SURVEY_WORDS = 400
"""Most survey words a simulator keeps."""
CONCEPT_THRESHOLD = 0.35
"""Cosine below which a word is not about the concept (MiniLM, single words)."""


def _exemplar_weights(contexts: list[Context]) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for c in contexts:
        if c.value > 0:
            values.setdefault(c.key, []).append(c.value)
    return values


def unit_simulator(
    contexts: list[Context], chosen: Hypothesis | None, survey: dict[str, float], top_max: float | None
) -> SimulatorSpec | None:
    """The simulator of a unit explanation, from what the policy measured (module docstring); None
    when nothing activated (no positive exemplar peak and no survey word)."""
    weights: dict[str, float] = {}
    if top_max and top_max > 0:
        strong = sorted((w for w, s in survey.items() if s >= SURVEY_SHARE * top_max), key=lambda w: -survey[w])
        for word in strong[:SURVEY_WORDS]:
            weights[key_of(word)] = survey[word]
    exemplar = _exemplar_weights(contexts)
    keep = 1.0
    if chosen is not None and chosen.tested and not chosen.supported and chosen.kind in ("word", "set"):
        seen = [mean(exemplar[k]) for k in chosen.keys if k in exemplar]
        if seen and mean(seen) > 0:
            keep = min(1.0, max(0.0, mean(chosen.pos) / mean(seen)))
    for key, values in exemplar.items():
        scale = keep if chosen is not None and key in chosen.keys else 1.0
        weights[key] = max(weights.get(key, 0.0), mean(values) * scale)
    rules: list[TokenRule | AfterRule | ConceptRule] = []
    if any(w > 0 for w in weights.values()):
        rules.append(TokenRule(weights={k: round(w, 4) for k, w in weights.items() if w > 0}))
    if chosen is not None and chosen.supported and chosen.kind == "context" and chosen.keys:
        rules.append(AfterRule(words={chosen.keys[0]: round(mean(chosen.pos), 4)}))
    if chosen is not None and chosen.supported and chosen.kind == "concept" and survey:
        rules.append(
            ConceptRule(
                query=", ".join(chosen.keys[:8]), weight=round(max(survey.values()), 4), threshold=CONCEPT_THRESHOLD
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
