"""The builtin scientist's policy for model units (MLP neurons, residual coordinates, heads, latents).

1. ``exemplars`` (k=20, five contexts per quantile; the layer's cache is built when missing). If that
   fails, ``activations`` on a fixed set of varied texts stands in for the exemplars.
2. With budget to spare, a word survey: ``activations`` on sentences naming frequent words and category
   nouns, four per sentence; at least three distinct strong responders that meet the exemplars make a
   concept hypothesis ("words about X").
3. Token statistics of the top contexts propose up to three more hypotheses: the top word, a category
   that dominates, a small set of words, or "the token after <word>" (``agent.builtin.unit_hypotheses``).
4. Each hypothesis is tested with ``activations`` on 16 new texts: 8 positives (the word in generic
   frames, and in the exemplars' local contexts behind fresh openers) and 8 matched negatives (the
   same texts with the word swapped for a control word). The score of a positive is the largest
   activation on the hypothesised word; of a negative, the largest anywhere. The separation (AUC:
   how often a positive beats a negative) decides support; every test is recorded as evidence.
5. ``unit_logits`` (what the unit writes) and, budget permitting, a zero ``ablate`` on the best
   hypothesis's positives (loss): causal evidence. In a layer plan both the survey (2.) and the
   ablation come from the planner's shared runs (``agent.layer_plan``): the unit's column of each,
   the ablation an estimate on fixed corpus passages for every unit of the layer at once.
6. The explanation: the best-separated hypothesis, with examples, the test numbers, secondary words,
   the promoted tokens; confidence from the separation. Its ``code`` is an executable simulator (a
   declarative ``tools.simulation`` spec built by ``agent.builtin.unit_simulators``: a token table
   fitted to every activation observed above, plus the rules the tests established) that predicts the
   unit's activation at every token of a text.
"""

from __future__ import annotations

from typing import Any

from agent.builtin.protocol import (
    Call,
    Final,
    Outcome,
    Policy,
    PolicyRun,
    Step,
    SubRun,
    auc,
    clip_words,
    fmt,
)
from agent.builtin.unit_hypotheses import (
    FALLBACK_TEXTS,
    SURVEY_PER_TEXT,
    Context,
    Hypothesis,
    analyse_context,
    concept_hypothesis,
    excerpt,
    mean,
    propose,
    quote,
    score,
    shared_survey,
    survey,
    weighted_shares,
)
from agent.builtin.unit_simulators import Observation, unit_simulator
from store.errors import InputError
from tools.shared_runs.site_effects import read_unit_effect

__all__ = ["EXEMPLARS_PER_QUANTILE", "SURVEY_BATCH", "SURVEY_PER_TEXT", "UnitPolicy"]

EXEMPLARS_PER_QUANTILE = 5
"""Contexts asked for from each of the 10 activation quantiles: the simulator's table learns from them."""

SURVEY_BATCH = 256
"""Survey sentences per ``activations`` call."""


class UnitPolicy(Policy):
    """Exemplars → hypotheses → activation tests → unit_logits / ablate → explanation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.contexts: list[Context] = []
        self.exemplar_source: str = ""
        self.exemplar_ids: list[int] = []
        self.top_max: float | None = None
        self.hypotheses: list[Hypothesis] = []
        self.promoted: list[str] = []
        self.suppressed: list[str] = []
        self.logits_id: int | None = None
        self.ablation: tuple[float, int | None] | None = None
        self.ablation_sentence = ""
        self.errors: list[str] = []
        self.survey: dict[str, float] = {}
        self.survey_ids: list[int] = []
        self.observations: list[Observation] = []  # every (tokens, activations) the unit was run on

    def _model_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"subject": self.task.subject}
        if self.task.model:
            args["model"] = self.task.model
        return args

    def steps(self) -> PolicyRun:
        """The investigation (module docstring)."""
        yield from self._look()
        if not self.contexts:
            return self.best()
        if self._shared_survey():
            pass  # the layer planner ran it once for every unit of the layer
        elif self.task.can("activations") and self.remaining() >= 8:
            yield from self._survey()
        concept = concept_hypothesis(self.survey, self.top_max, self.contexts)
        n = max(0, min(3, (self.remaining() - 1) // 3))
        self.hypotheses = propose(self.contexts, max(n, 1 if self.remaining() >= 2 else 0))
        if concept is not None:
            self.hypotheses = [concept, *self.hypotheses][: max(n, 1)]
        if self.hypotheses and self.task.can("propose_hypothesis") and self.remaining() >= 2 * len(self.hypotheses):
            outcomes = yield Step(
                "Write down hypotheses suggested by the tokens at the exemplars' peaks.",
                [Call("propose_hypothesis", {"text": h.claim, "confidence": 0.5}) for h in self.hypotheses],
            )
            for h, o in zip(self.hypotheses, outcomes, strict=True):
                value = (o.result or {}).get("hypothesis_id") if o.ok else None
                h.hypothesis_id = value if isinstance(value, int) else None
        for h in self.hypotheses:
            if self.remaining() < 1 or not self.task.can("activations"):
                break
            yield from self._test(h)
        if self.remaining() >= 1 and self.task.can("unit_logits"):
            [logits] = yield Step(
                "Check what the unit writes: the tokens its output direction promotes and suppresses.",
                [Call("unit_logits", {**self._model_args(), "k": 10})],
            )
            self._absorb_logits(logits)
        chosen = self._chosen()
        if self._shared_ablation():
            pass  # the layer planner estimated every unit's ablation effect at once
        elif chosen is not None and chosen.supported and self.remaining() >= 2 and self.task.can("ablate"):
            texts = [p.text for p in chosen.positives]
            args = self._model_args()
            subject = args.pop("subject")
            [ablated] = yield Step(
                "Zero-ablate the unit on the positive texts to see whether it matters for predicting them.",
                [Call("ablate", {**args, "targets": [subject], "texts": texts, "method": "zero"})],
            )
            if ablated.ok and ablated.result is not None:
                effect = ablated.result.get("mean_effect")
                if isinstance(effect, int | float):
                    self.ablation = (float(effect), ablated.experiment_id)
                    self.ablation_sentence = (
                        f"Zero-ablating it changes the loss on the positive texts by {effect:+.4f} nats."
                    )
                    if (
                        chosen.hypothesis_id is not None
                        and ablated.experiment_id is not None
                        and self.remaining() >= 1
                        and self.task.can("record_evidence")
                    ):
                        yield Step(
                            "Record the ablation as causal evidence.",
                            [
                                Call(
                                    "record_evidence",
                                    {
                                        "hypothesis_id": chosen.hypothesis_id,
                                        "experiment_ids": [ablated.experiment_id],
                                        "supports": effect > 0,
                                        "weight": 0.5,
                                        "note": f"zero ablation changes the loss on the positives by {effect:+.4f}",
                                    },
                                )
                            ],
                        )
        return self.best()

    # ------------------------------------------------------------------ steps
    def _look(self) -> SubRun:
        if self.task.can("exemplars") and self.remaining() >= 1:
            args: dict[str, Any] = {**self._model_args(), "k": 20, "per_quantile": EXEMPLARS_PER_QUANTILE}
            if self.task.options.exemplar_tokens:
                args["max_tokens"] = self.task.options.exemplar_tokens
            [found] = yield Step(
                "Start from the unit's dataset exemplars: the contexts where it activates most.",
                [Call("exemplars", args)],
            )
            if found.ok and found.result is not None:
                self._absorb_exemplars(found)
                if self.contexts:
                    return
            elif found.error:
                self.errors.append(f"exemplars: {found.error}")
        if self.task.can("activations") and self.remaining() >= 1:
            [ran] = yield Step(
                "No exemplars: run the unit on a set of varied texts instead.",
                [Call("activations", {**self._model_args(), "texts": FALLBACK_TEXTS})],
            )
            if ran.ok:
                rows = sorted(_results(ran), key=lambda r: -float(r.get("max") or 0.0))
                self._observe(rows)
                self.contexts = [c for c in (_context_of(r) for r in rows[:8]) if c is not None]
                self.top_max = self.contexts[0].value if self.contexts else None
                self.exemplar_source = "a fixed set of varied texts"
                if ran.experiment_id is not None:
                    self.exemplar_ids.append(ran.experiment_id)
            elif ran.error:
                self.errors.append(f"activations: {ran.error}")

    def _shared_survey(self) -> bool:
        """Read the survey the layer planner ran for the whole layer (``task.shared["survey"]``: the
        experiment to cite, the run's folder, this unit's column); False when there is none or it cannot
        be read (the policy then runs the survey itself)."""
        shared = self.task.shared.get("survey")
        if not isinstance(shared, dict):
            return False
        try:
            rows, scores = shared_survey(str(shared["run"]), int(shared["column"]))
            self.survey = dict(scores)
        except (InputError, KeyError, TypeError, ValueError) as exc:
            self.errors.append(f"shared survey: {exc}")
            return False
        self.observations.extend(rows)
        if isinstance(shared.get("experiment_id"), int):
            self.survey_ids = [shared["experiment_id"]]
        return True

    def _shared_ablation(self) -> bool:
        """Read the unit's ablation effect the layer planner estimated for the whole layer
        (``task.shared["ablation"]``); False when there is none or it cannot be read."""
        shared = self.task.shared.get("ablation")
        if not isinstance(shared, dict):
            return False
        try:
            effect = read_unit_effect(str(shared["run"]), int(shared["column"]))
        except (InputError, KeyError, TypeError, ValueError) as exc:
            self.errors.append(f"shared ablation: {exc}")
            return False
        experiment = shared.get("experiment_id")
        self.ablation = (effect.mean_effect, experiment if isinstance(experiment, int) else None)
        self.ablation_sentence = (
            f"Zeroing it changes the loss on {effect.texts} corpus passages by {effect.mean_effect:+.2g} nats on "
            f"average (at most {effect.max_effect:+.2g} on one; an attribution estimate for the whole layer, rank "
            f"{effect.rank} of {effect.units})."
        )
        return True

    def _survey(self) -> SubRun:
        plan = survey()
        texts = plan.texts
        words = [w for group in plan.groups for w in group]
        outcomes = yield Step(
            f"Survey the unit on {len(words)} frequent words and category nouns, {SURVEY_PER_TEXT} per sentence, "
            "to see whether it responds to a concept rather than one token.",
            [
                Call("activations", {**self._model_args(), "texts": texts[i : i + SURVEY_BATCH]})
                for i in range(0, len(texts), SURVEY_BATCH)
            ],
        )
        rows = [row for outcome in outcomes for row in _results(outcome)]
        self._observe(rows)
        self.survey_ids = [o.experiment_id for o in outcomes if o.experiment_id is not None]
        if len(rows) != len(texts):
            return
        self.survey = plan.scores(
            [([str(t) for t in r.get("tokens") or []], [float(v) for v in r.get("activations") or []]) for r in rows]
        )

    def _absorb_exemplars(self, found: Outcome) -> None:
        assert found.result is not None
        rows = [r for r in found.result.get("exemplars") or [] if isinstance(r, dict)]
        quantiles = [q for q in found.result.get("quantiles") or [] if isinstance(q, dict)]
        self._observe(rows + [r for q in quantiles for r in q.get("exemplars") or [] if isinstance(r, dict)])
        self.contexts = [c for c in (_context_of(r) for r in rows) if c is not None]
        self.contexts.sort(key=lambda c: -c.value)
        self.top_max = self.contexts[0].value if self.contexts else None
        self.exemplar_source = "dataset exemplars"
        if found.experiment_id is not None:
            self.exemplar_ids.append(found.experiment_id)

    def _test(self, h: Hypothesis) -> SubRun:
        probes = h.positives + h.negatives
        [ran] = yield Step(
            f"Test the hypothesis {h.label!r} on new texts with and without it.",
            [Call("activations", {**self._model_args(), "texts": [p.text for p in probes]})],
        )
        rows = _results(ran)
        if len(rows) != len(probes):
            if ran.error:
                self.errors.append(f"activations: {ran.error}")
            return
        h.experiment_id = ran.experiment_id
        self._observe(rows)
        scores = [
            score(p, [str(t) for t in r.get("tokens") or []], [float(v) for v in r.get("activations") or []])
            for p, r in zip(probes, rows, strict=True)
        ]
        h.pos, h.neg = scores[: len(h.positives)], scores[len(h.positives) :]
        for p, s in zip(h.positives, h.pos, strict=True):
            h.groups.setdefault(p.group, []).append(s)
        h.auc = auc(h.pos, h.neg)
        recordable = h.hypothesis_id is not None and h.experiment_id is not None
        if recordable and self.remaining() >= 1 and self.task.can("record_evidence"):
            yield Step(
                f"Record the test of {h.label!r}: separation AUC {h.auc:.2f}.",
                [
                    Call(
                        "record_evidence",
                        {
                            "hypothesis_id": h.hypothesis_id,
                            "experiment_ids": [h.experiment_id],
                            "supports": h.supported,
                            "weight": round(max(0.1, min(10.0, 2 * abs(h.auc - 0.5) * 2)), 3),
                            "note": _test_note(h),
                        },
                    )
                ],
            )

    def _observe(self, rows: list[dict[str, Any]]) -> None:
        """Keep each row's tokens and activations for the simulator's token table."""
        for row in rows:
            tokens = [str(t) for t in row.get("tokens") or []]
            acts = [float(v) for v in row.get("activations") or []]
            if tokens and len(tokens) == len(acts):
                self.observations.append((tokens, acts))

    def _absorb_logits(self, logits: Outcome) -> None:
        if not logits.ok or logits.result is None:
            return
        self.logits_id = logits.experiment_id

        def tokens(name: str) -> list[str]:
            rows = logits.result.get(name) if logits.result else None
            return [str(r.get("token")) for r in rows or [] if isinstance(r, dict)]

        self.promoted, self.suppressed = _readable(tokens("promoted")), _readable(tokens("suppressed"))

    # ------------------------------------------------------------------ explanation
    def _chosen(self) -> Hypothesis | None:
        tested = [h for h in self.hypotheses if h.tested]
        if not tested:
            return self.hypotheses[0] if self.hypotheses else None
        priority = {"concept": -1, "word": 0, "category": 1, "set": 2, "context": 3}
        best = max(tested, key=lambda h: (h.supported, round(h.auc or 0.0, 1), -priority[h.kind], h.separation))
        return best

    def best(self) -> Final:
        """The best-separated hypothesis, in a testable paragraph."""
        if not self.contexts:
            why = "; ".join(self.errors) or "no experiment could be run"
            return Final(
                label="no conclusion",
                description=f"No activations of {self.task.subject} could be observed ({why}).",
                confidence=0.0,
            )
        chosen = self._chosen() or propose(self.contexts, 1)[0]  # untested when the budget allowed no test
        confirmed = chosen.supported or not chosen.tested
        if confirmed:
            sentences = [chosen.claim.rstrip(".") + "."]
        else:
            sentences = [
                "No simple explanation held up. The top contexts suggested: "
                + chosen.claim.rstrip(".")
                + "; but new texts did not confirm it."
            ]
        if self.top_max is not None and self.top_max <= 1e-6:
            sentences.insert(0, f"The unit hardly activates at all (largest activation {fmt(self.top_max, 3)}).")
        strongest = self.contexts[: min(3, len(self.contexts))]
        sentences.append(f"Strongest {self.exemplar_source}: " + "; ".join(excerpt(c) for c in strongest) + ".")
        others = [
            (k, c)
            for k, c in _best_per_key(self.contexts).items()
            if k not in chosen.keys and chosen.kind in ("word", "context")
        ]
        if others:
            sentences.append(
                "Weaker on: " + ", ".join(f"{quote(c.word)} (up to {fmt(c.value, 3)})" for _, c in others[:4]) + "."
            )
        prevs = weighted_shares([(c.prev, c.value) for c in self.contexts if c.prev and c.key in chosen.keys])
        if chosen.kind in ("word", "set") and prevs and prevs[0][1] >= 0.4 and prevs[0][2] >= 2:
            sentences.append(f"In its top contexts it usually follows {quote(prevs[0][0])}.")
        if chosen.tested:
            sentences.append(_test_sentence(chosen))
        for h in self.hypotheses:
            if h is not chosen and h.tested:
                verdict = "supported" if h.supported else "not supported"
                sentences.append(f"Alternative {h.label!r}: {verdict} (AUC {h.auc:.2f}).")
        if self.promoted:
            shown = ", ".join(repr(t) for t in self.promoted[:6])
            sentences.append(f"Its output promotes the tokens {shown}")
            if self.suppressed:
                sentences[-1] += f" and suppresses {', '.join(repr(t) for t in self.suppressed[:4])}"
            sentences[-1] += "."
        if self.ablation_sentence:
            sentences.append(self.ablation_sentence)
        confidence = _confidence(chosen, self.top_max)
        evidence = [*self.exemplar_ids, *self.survey_ids]  # the simulator's table is fitted to both
        for h in self.hypotheses:
            if h.supported and h.experiment_id is not None and h is chosen:
                evidence.append(h.experiment_id)
        if self.logits_id is not None:
            evidence.append(self.logits_id)
        if self.ablation is not None and self.ablation[0] > 0 and self.ablation[1] is not None:
            evidence.append(self.ablation[1])
        simulator = unit_simulator(self.observations, chosen, self.survey)
        return Final(
            label=clip_words(chosen.label if confirmed else f"unconfirmed: {chosen.label}"),
            description=" ".join(sentences),
            confidence=confidence,
            evidence=evidence,
            code=simulator.dumps() if simulator is not None else None,
        )

    # ------------------------------------------------------------------ chat


def _results(outcome: Outcome) -> list[dict[str, Any]]:
    results = (outcome.result or {}).get("results") if outcome.ok else None
    return [r for r in results or [] if isinstance(r, dict)]


def _context_of(row: dict[str, Any]) -> Context | None:
    tokens = [str(t) for t in row.get("tokens") or []]
    acts = [float(v) for v in row.get("activations") or []]
    return analyse_context(tokens, acts)


def _readable(tokens: list[str]) -> list[str]:
    """Tokens a person can read first (no byte fragments or control characters)."""
    clean = [t for t in tokens if t.strip() and "\ufffd" not in t and t.isprintable()]
    return clean + [t for t in tokens if t not in clean]


def _best_per_key(contexts: list[Context]) -> dict[str, Context]:
    best: dict[str, Context] = {}
    for c in contexts:
        if c.key not in best or c.value > best[c.key].value:
            best[c.key] = c
    return dict(sorted(best.items(), key=lambda kv: -kv[1].value))


def _test_note(h: Hypothesis) -> str:
    return (
        f"positives mean {fmt(mean(h.pos), 3)} (min {fmt(min(h.pos), 3)}), negatives mean {fmt(mean(h.neg), 3)} "
        f"(max {fmt(max(h.neg), 3)}), AUC {h.auc:.2f}"
    )


def _test_sentence(h: Hypothesis) -> str:
    text = (
        f"On new texts it reaches {fmt(mean(h.pos), 3)} on average where the hypothesis says it should fire, "
        f"against {fmt(mean(h.neg), 3)} (anywhere) on matched texts without it (AUC {h.auc:.2f})"
    )
    frame, local = h.groups.get("frame"), h.groups.get("context")
    if frame and local:
        text += f"; {fmt(mean(local), 3)} in contexts like its exemplars', {fmt(mean(frame), 3)} in generic sentences"
    return text + "."


def _confidence(h: Hypothesis, top_max: float | None) -> float:
    """From the separation (AUC), scaled by how close the positives come to the top exemplar."""
    if h.auc is None:
        return 0.2
    strength = max(0.0, 2 * (h.auc - 0.5))
    if not h.supported:
        return round(min(0.3, 0.3 * strength), 3)
    reach = min(1.0, max(0.0, mean(h.pos) / top_max)) if top_max and top_max > 0 else 0.5
    return round((0.15 + 0.8 * strength) * (0.5 + 0.5 * reach), 3)
