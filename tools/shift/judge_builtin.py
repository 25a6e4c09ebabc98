"""The builtin SHIFT judge (no LLM): scores a latent's relatedness to a concept from where its
activation falls on the concept's words, what its decoder row promotes, and how full of the concept
its top contexts are — each measured against chance — mapped onto the 0–4 rubric.

For each top context the activation mass on the marked tokens is split by the words those tokens
are part of (`judge_lexicon.token_words`):

* **direct** — the share of the mass on concept words (a core word counts 1, a domain word 0.6);
* **related** — the share on concept words *or* tokens with a concept word within `NEAR_BEFORE`
  words before or `NEAR_AFTER` after (a latent firing on the verb after ``she``).

Averaged over contexts, each is compared with what marking tokens of the same contexts at random
would give (the contexts' own rate of concept words), so a gender word that merely occurs often
(``he``, ``his``) is not evidence; a share counts only when it is `Z_MIN` standard errors above that
chance, and then as its enrichment ``(share − chance) / (1 − chance)``. **promoted** is the share of
the promoted tokens that are concept words (credited from two hits on). **context** compares the
concept-word density of the top contexts with the corpus's (`ConceptBackground`): a latent that fires
throughout texts about the concept. `rubric_score` maps the four onto the rubric's wording: *most*
examples clearly related → 4, *about half* → 3, *some* (or only distant relations) → 2, single
distantly related tokens → 1.

Top contexts show a latent's strongest use; a latent may also fire, less strongly, on the concept's
words wherever they occur (a subject-pronoun latent whose top contexts are all ``I``), which is what
moves its average over a text. So the evidence may carry **probes** (`judge_evidence.probe_latents`):
the latent's activation on the concept's words and on control words in short carrier sentences. A
word counts as firing when its activation is at least `PROBE_FLOOR` of the latent's scale and above
the controls' 90th percentile; **probe** is the share of the concept's word *occurrences* (words
weighted by their frequency in the corpus background, or in the builtin corpus) that fire, and **contrast**
the difference of that share between the concept's sides (female / male, positive / negative). Their
larger value gives at most a 2 (the latent is distantly or partly related): 2 from `PROBE_STRONG`,
1 from `PROBE_WEAK`. The score is the larger of the two readings.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tools.shift.judge_evidence import LatentEvidence, MarkedContext
from tools.shift.judge_lexicon import ConceptBackground, Lexicon, concept_lexicon, corpus_background, token_words
from tools.shift.judge_rubric import ConceptScore, rubric

__all__ = [
    "CONTEXT_RATIO",
    "NEAR_AFTER",
    "NEAR_BEFORE",
    "PROBE_FLOOR",
    "PROBE_STRONG",
    "PROBE_WEAK",
    "Z_MIN",
    "BuiltinJudge",
    "ConceptStats",
    "ProbeStats",
    "concept_stats",
    "probe_stats",
    "rubric_score",
]

#: Words before and after an activating token that count as its neighbourhood.
NEAR_BEFORE, NEAR_AFTER = 3, 1
#: Standard errors above chance a share must be to count at all.
Z_MIN = 3.0
#: Chance rate floor in the standard error (contexts without any concept word still allow luck).
_CHANCE_FLOOR = 0.02
#: Concept-word density of the top contexts, as a multiple of the corpus's, that counts as a
#: distant relation (twice this: a closer one).
CONTEXT_RATIO = 4.0
#: Weighted concept words the top contexts must hold before their density is compared at all.
_CONTEXT_MIN_WORDS = 5.0
#: A probed word fires when its activation is at least this share of the latent's scale (and above the controls).
PROBE_FLOOR = 0.15
#: Probe or contrast share giving a 2, and a 1.
PROBE_STRONG, PROBE_WEAK = 0.5, 0.2


@dataclass
class _Context:
    """A marked context read into words once, for every concept."""

    words: list[str]
    own: list[list[int]]
    window: list[list[int]]
    weights: list[float]  # activation of each marked position
    marked: list[int]
    scored: range


def _prepare(context: MarkedContext, skip: int) -> _Context:
    words, own = token_words(context.tokens)
    window: list[list[int]] = []
    ends_before = 0
    for mine in own:
        if mine:
            lo, hi = min(mine) - NEAR_BEFORE, max(mine) + NEAR_AFTER
            ends_before = max(mine) + 1
        else:
            lo, hi = ends_before - NEAR_BEFORE, ends_before + NEAR_AFTER - 1
        window.append([j for j in range(max(lo, 0), min(hi, len(words) - 1) + 1) if j not in mine])
    return _Context(
        words=words,
        own=own,
        window=window,
        weights=[max(context.activations[p], 0.0) for p in context.marked],
        marked=list(context.marked),
        scored=range(min(skip, len(context.tokens)), len(context.tokens)),
    )


@dataclass
class ConceptStats:
    """What the builtin judge measured for one concept (shares in [0, 1]; see the module docstring)."""

    concept: str
    contexts: int
    direct: float
    direct_chance: float
    related: float
    related_chance: float
    direct_contexts: int  # contexts whose activation mass is mostly on concept words
    promoted: float
    promoted_hits: list[str]
    density: float
    background: float | None
    hits: Counter[str] = field(default_factory=Counter)
    near_hits: Counter[str] = field(default_factory=Counter)
    words: int = 0  # words in the top contexts
    probe: ProbeStats | None = None  # set by the judge when the evidence has probes

    def enriched(self, share: float, chance: float) -> float:
        """``(share − chance) / (1 − chance)`` when ``share`` is `Z_MIN` standard errors above
        chance over the contexts, else 0."""
        if self.contexts == 0 or chance >= 1.0:
            return 0.0
        floor = max(chance, _CHANCE_FLOOR)
        error = math.sqrt(floor * (1.0 - floor) / self.contexts)
        if share - chance < Z_MIN * error:
            return 0.0
        return (share - chance) / (1.0 - chance)

    @property
    def direct_credit(self) -> float:
        """The enriched direct share (0 when not above chance)."""
        return self.enriched(self.direct, self.direct_chance)

    @property
    def related_credit(self) -> float:
        """The enriched related share (0 when not above chance)."""
        return self.enriched(self.related, self.related_chance)

    @property
    def promoted_credit(self) -> float:
        """The promoted share, counted from two concept tokens on (one may be luck)."""
        return self.promoted if len(self.promoted_hits) >= 2 else 0.0

    @property
    def context_credit(self) -> int:
        """2 when the contexts are `CONTEXT_RATIO`·2 times as full of the concept as the corpus, 1
        at `CONTEXT_RATIO` times, else 0 (and 0 without a background)."""
        if self.background is None or self.density * self.words < _CONTEXT_MIN_WORDS:
            return 0
        ratio = self.density / max(self.background, 1e-4)
        return 2 if ratio >= 2 * CONTEXT_RATIO else 1 if ratio >= CONTEXT_RATIO else 0

    def as_dict(self) -> dict[str, Any]:
        """The measurements, JSON-ready (stored with an annotation)."""
        return {
            "contexts": self.contexts,
            "direct": round(self.direct, 4),
            "direct_chance": round(self.direct_chance, 4),
            "related": round(self.related, 4),
            "related_chance": round(self.related_chance, 4),
            "direct_contexts": self.direct_contexts,
            "promoted": round(self.promoted, 4),
            "promoted_hits": self.promoted_hits,
            "density": round(self.density, 5),
            "background": None if self.background is None else round(self.background, 5),
            "hits": dict(self.hits.most_common(10)),
            "near_hits": dict(self.near_hits.most_common(10)),
            "probe": self.probe.as_dict() if self.probe is not None else None,
        }


def _word_of_token(token: str) -> str | None:
    words, _ = token_words([token])
    return words[0] if len(words) == 1 else None


def concept_stats(
    evidence: LatentEvidence,
    lexicon: Lexicon,
    *,
    background: ConceptBackground | None = None,
    prepared: Sequence[_Context] | None = None,
) -> ConceptStats:
    """Measure ``evidence`` against one concept's ``lexicon`` (see the module docstring)."""
    contexts = prepared if prepared is not None else [_prepare(c, evidence.skip) for c in evidence.contexts]
    direct: list[float] = []
    related: list[float] = []
    direct_chance: list[float] = []
    related_chance: list[float] = []
    hits: Counter[str] = Counter()
    near_hits: Counter[str] = Counter()
    concept_words = 0.0
    n_words = 0
    for ctx in contexts:
        weights = [lexicon.weight(word) for word in ctx.words]
        concept_words += sum(weights)
        n_words += len(ctx.words)
        own_w = [max((weights[j] for j in mine), default=0.0) for mine in ctx.own]
        near_w = [max((weights[j] for j in around), default=0.0) for around in ctx.window]
        rel_w = [max(a, b) for a, b in zip(own_w, near_w, strict=True)]
        mass = sum(ctx.weights)
        if mass <= 0 or not ctx.scored:
            continue
        direct.append(sum(a * own_w[p] for a, p in zip(ctx.weights, ctx.marked, strict=True)) / mass)
        related.append(sum(a * rel_w[p] for a, p in zip(ctx.weights, ctx.marked, strict=True)) / mass)
        worded = [p for p in ctx.scored if ctx.own[p]] or list(ctx.scored)  # chance: marks on random words
        direct_chance.append(sum(own_w[p] for p in worded) / len(worded))
        related_chance.append(sum(rel_w[p] for p in worded) / len(worded))
        for p in ctx.marked:
            if own_w[p] > 0:
                hits.update(ctx.words[j] for j in ctx.own[p] if weights[j] > 0)
            elif near_w[p] > 0:
                near_hits.update(ctx.words[j] for j in ctx.window[p] if weights[j] > 0)
    promoted_hits = []
    promoted = 0.0
    for token in evidence.promoted:
        word = _word_of_token(token.token)
        weight = lexicon.weight(word) if word else 0.0
        if weight > 0:
            promoted_hits.append(token.token.strip())
            promoted += weight
    n = len(direct)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    return ConceptStats(
        concept=lexicon.concept,
        contexts=n,
        direct=mean(direct),
        direct_chance=mean(direct_chance),
        related=mean(related),
        related_chance=mean(related_chance),
        direct_contexts=sum(1 for d in direct if d >= 0.5),
        promoted=promoted / len(evidence.promoted) if evidence.promoted else 0.0,
        promoted_hits=promoted_hits,
        density=concept_words / n_words if n_words else 0.0,
        background=background.density(lexicon) if background is not None else None,
        hits=hits,
        near_hits=near_hits,
        words=n_words,
    )


@dataclass
class ProbeStats:
    """What the probes showed for one concept: the firing share of its word occurrences, per side,
    the controls' share, and the words that fired."""

    share: float
    sides: dict[str, float]
    control_share: float
    threshold: float
    fired: list[str]
    tested: int

    @property
    def contrast(self) -> float:
        """The largest difference of firing share between two sides (0 with fewer than two)."""
        return max(self.sides.values()) - min(self.sides.values()) if len(self.sides) >= 2 else 0.0

    @property
    def score(self) -> int:
        """2 from `PROBE_STRONG`, 1 from `PROBE_WEAK` (of the share or the contrast), else 0."""
        strength = max(self.share, self.contrast)
        return 2 if strength >= PROBE_STRONG else 1 if strength >= PROBE_WEAK else 0

    def as_dict(self) -> dict[str, Any]:
        """The measurements, JSON-ready."""
        return {
            "share": round(self.share, 4),
            "sides": {k: round(v, 4) for k, v in self.sides.items()},
            "control_share": round(self.control_share, 4),
            "threshold": round(self.threshold, 4),
            "fired": self.fired[:10],
            "tested": self.tested,
        }


def _frequency(word: str, background: ConceptBackground | None) -> float:
    if background is None:
        return 1.0
    counts = background.counts
    forms = {word, word.lower(), word.capitalize()}
    return 1.0 + sum(counts.get(form, 0) for form in forms)


def probe_stats(
    evidence: LatentEvidence, lexicon: Lexicon, background: ConceptBackground | None = None
) -> ProbeStats | None:
    """Read the evidence's probes for one concept (see the module docstring); None without probes.
    Without a ``background`` the builtin corpus's word frequencies weigh the words."""
    probes = evidence.probes
    background = background if background is not None else corpus_background("builtin")
    tested = {w: a for w, a in (probes.words.items() if probes else ()) if lexicon.weight(w) > 0}
    if probes is None or not tested:
        return None
    peak = max([*(c.max for c in evidence.contexts), *tested.values(), *probes.controls.values(), 0.0])
    if peak <= 0:
        return ProbeStats(0.0, {}, 0.0, PROBE_FLOOR, [], len(tested))
    controls = sorted((a / peak for a in probes.controls.values()), reverse=True)
    ninetieth = controls[len(controls) // 10] if controls else 0.0
    threshold = max(PROBE_FLOOR, ninetieth + 0.05)
    fired = sorted((w for w, a in tested.items() if a / peak >= threshold), key=lambda w: -tested[w])

    def share(words: Sequence[str]) -> float:
        total = sum(_frequency(w, background) for w in words)
        return sum(_frequency(w, background) for w in words if w in fired) / total if total else 0.0

    sides: dict[str, float] = {}
    for side in lexicon.groups:
        members = [w for w in tested if lexicon.group_of(w) == side]
        if members:
            sides[side] = share(members)
    control_share = sum(1 for a in controls if a >= threshold) / len(controls) if controls else 0.0
    return ProbeStats(share(list(tested)), sides, control_share, threshold, fired, len(tested))


def rubric_score(direct: float, related: float, promoted: float, context: int = 0) -> int:
    """The rubric score from the credited measurements (`ConceptStats`' ``*_credit``): ``direct`` and
    ``related`` enriched shares of the contexts' activation, ``promoted`` the share of promoted tokens,
    ``context`` 0–2 for contexts full of the concept.

    4: most examples clearly related (direct ≥ 0.6), with the promoted tokens (≥ 0.2) or nearly all
    examples (≥ 0.8); 3: about half (direct ≥ 0.35, or ≥ 0.2 with promoted ≥ 0.3, or related ≥ 0.6 with
    promoted ≥ 0.3); 2: some examples directly (≥ 0.15) or many distantly (related ≥ 0.35), or the
    promoted tokens alone (≥ 0.3), or contexts twice `CONTEXT_RATIO` as full; 1: any credited direct
    share, related ≥ 0.15, promoted ≥ 0.2 or contexts `CONTEXT_RATIO` as full; else 0.
    """
    if direct >= 0.6 and (promoted >= 0.2 or direct >= 0.8):
        return 4
    if direct >= 0.35 or (direct >= 0.2 and promoted >= 0.3) or (related >= 0.6 and promoted >= 0.3):
        return 3
    if direct >= 0.15 or related >= 0.35 or promoted >= 0.3 or context >= 2:
        return 2
    if direct > 0 or related >= 0.15 or promoted >= 0.2 or context >= 1:
        return 1
    return 0


def _listed(counter: Counter[str], n: int = 4) -> str:
    return ", ".join(f"{w} ×{c}" if c > 1 else w for w, c in counter.most_common(n))


def _rationale(stats: ConceptStats, probe: ProbeStats | None, lexicon: Lexicon, score: int, promoted_total: int) -> str:
    parts = [lexicon.describe()]
    if stats.contexts == 0:
        parts.append("the latent has no activating context in its exemplar cache")
    elif stats.hits:
        parts.append(
            f"{stats.direct_contexts}/{stats.contexts} top contexts activate mostly on its words "
            f"({_listed(stats.hits)}); activation share on them {stats.direct:.2f} vs {stats.direct_chance:.2f} "
            "for random words of the same contexts"
        )
    else:
        parts.append(
            f"none of the {stats.contexts} top contexts activates on its words "
            f"({stats.direct_chance:.2f} of their words are its words)"
        )
    if stats.contexts and stats.related_credit > stats.direct_credit:
        near = f" ({_listed(stats.near_hits)})" if stats.near_hits else ""
        parts.append(
            f"activation next to its words{near}: {stats.related:.2f} vs {stats.related_chance:.2f} for random words"
        )
    if stats.context_credit and stats.background is not None:
        ratio = stats.density / max(stats.background, 1e-4)
        parts.append(f"its words are {ratio:.1f}x as dense in these contexts as in the corpus")
    if probe is not None:
        sides = ", ".join(f"{side} {value:.2f}" for side, value in probe.sides.items())
        fired = f" ({', '.join(probe.fired[:5])})" if probe.fired else ""
        parts.append(
            f"in test sentences it fires on {len(probe.fired)}/{probe.tested} of its words{fired}, "
            f"{probe.share:.2f} of their occurrences" + (f" ({sides})" if sides else "") + f", "
            f"controls {probe.control_share:.2f}"
        )
    if promoted_total:
        if stats.promoted_hits:
            listed = ", ".join(stats.promoted_hits[:5])
            parts.append(f"{len(stats.promoted_hits)}/{promoted_total} promoted tokens are its words: {listed}")
        else:
            parts.append(f"none of the {promoted_total} promoted tokens is one of its words")
    return "; ".join(parts) + f" → {score}: {rubric()[score]}"


class BuiltinJudge:
    """The offline judge (see the module docstring). ``background``: the corpus the exemplar cache
    was built from (`judge_lexicon.corpus_background`); without one the context density is not used."""

    name = "builtin"

    def __init__(self, background: ConceptBackground | None = None) -> None:
        self.background = background

    def stats(self, evidence: LatentEvidence, concepts: Sequence[str]) -> dict[str, ConceptStats]:
        """The measurements behind the scores, per concept."""
        prepared = [_prepare(c, evidence.skip) for c in evidence.contexts]
        return {
            concept: concept_stats(evidence, concept_lexicon(concept), background=self.background, prepared=prepared)
            for concept in concepts
        }

    def verdicts(
        self, evidence: LatentEvidence, concepts: Sequence[str]
    ) -> dict[str, tuple[ConceptScore, ConceptStats]]:
        """Each concept's score with the measurements behind it."""
        out = {}
        for concept, stats in self.stats(evidence, concepts).items():
            lexicon = concept_lexicon(concept)
            probe = probe_stats(evidence, lexicon, self.background)
            stats.probe = probe
            score = rubric_score(stats.direct_credit, stats.related_credit, stats.promoted_credit, stats.context_credit)
            score = max(score, probe.score if probe is not None else 0)
            rationale = _rationale(stats, probe, lexicon, score, len(evidence.promoted))
            out[concept] = (ConceptScore(float(score), rationale), stats)
        return out

    def score(self, evidence: LatentEvidence, concepts: Sequence[str]) -> dict[str, ConceptScore]:
        """Score ``evidence`` against each concept: 0–4 with the measurements as the rationale."""
        return {concept: verdict for concept, (verdict, _) in self.verdicts(evidence, concepts).items()}
