"""The builtin scientist's policy for entity subjects (FIND's synthetic neurons that fire on a concept).

1. **Survey**: ``call_function`` on a broad English vocabulary — the most frequent alphabetic words of
   ``wordfreq``'s English list (``agent.builtin.words.VOCABULARY_SIZE`` of them, function words dropped),
   1000 per call — and on a category inventory (``agent.builtin.words.CATEGORY_NOUNS``: generic nouns
   such as "fruit", "vehicle", "emotion", in singular and plural).
2. **Responders**: the vocabulary words ranked by activation; near-duplicates (plurals, -ing/-ed
   forms of a word already listed) are folded so the list shows distinct words.
3. **Name**: the inventory noun with the highest activation names the concept when it clearly fires
   (≥ `NAME_MIN`); otherwise the explanation names the concept by its responders only.
4. **Confirm**: the top responders and an equal number of the lowest-ranked vocabulary words inside the
   same carrier sentences (`FRAMES`, ``data/entity_frames.txt``): the concept must survive context
   (responders in sentences stay high, controls stay low). The separation (AUC) sets the confidence;
   everything is recorded as a hypothesis with its evidence.

The description leads with the concept name and the responders ("Responds to fruit words such as
banana, apple, …"): FIND scores entity descriptions by unit tests that ask which of three words the
neuron prefers, so naming many true responders is what makes a description predictive.
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
    auc,
    clip_words,
    fmt,
    hypothesis_steps,
)
from agent.builtin.words import distinct, inventory, vocabulary
from store.datafiles import load_lines

__all__ = ["EntityPolicy"]

BATCH = 1000
"""Inputs per ``call_function`` (the tool's maximum)."""
TOP_RESPONDERS = 12
"""Distinct responders named in the description."""
NAME_MIN = 0.6
"""Activation an inventory noun needs to name the concept."""
FRAMES = list(load_lines("agent.builtin", "entity_frames.txt"))
"""Carrier sentences for the confirmation step (``{w}``: the word)."""


class EntityPolicy(Policy):
    """Survey a vocabulary and a category inventory, name the concept, confirm in context (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scores: dict[str, float] = {}
        self.framed: dict[str, float] = {}
        self.experiments: list[int] = []
        self.errors: list[str] = []
        self.confirmation: tuple[float, float, float] | None = None  # (auc, mean top, mean control)

    def _absorb(self, outcome: Outcome, into: dict[str, float]) -> None:
        if not outcome.ok or outcome.result is None:
            if outcome.error:
                self.errors.append(outcome.error)
            return
        if outcome.experiment_id is not None:
            self.experiments.append(outcome.experiment_id)
        for item in outcome.result.get("outcomes") or []:
            x, y = item.get("input"), item.get("output")
            if isinstance(x, str) and isinstance(y, (int, float)) and not item.get("error"):
                into[x] = float(y)

    def _ranked(self) -> list[str]:
        words = [w for w in vocabulary() if w in self.scores]
        return sorted(words, key=lambda w: (-self.scores[w], w))

    def _name(self) -> tuple[str, float] | None:
        named = [(self.scores[w], w) for w in inventory() if w in self.scores]
        if not named:
            return None
        score, word = max(named, key=lambda t: (t[0], -len(t[1])))
        return (word, score) if score >= NAME_MIN else None

    def steps(self) -> PolicyRun:
        """Survey → name → confirm in sentences → hypothesis → explanation."""
        subject = self.task.subject
        if not self.task.can("call_function"):
            return self.best()
        words = list(vocabulary())
        batches = [words[i : i + BATCH] for i in range(0, len(words), BATCH)]
        batches = batches[: max(1, self.remaining() - 3)]
        calls = [Call("call_function", {"subject": subject, "inputs": list(inventory())})]
        calls += [Call("call_function", {"subject": subject, "inputs": batch}) for batch in batches]
        outcomes = yield Step(
            f"Survey the neuron on {sum(map(len, batches))} frequent English words and "
            f"{len(inventory())} category nouns.",
            calls,
        )
        for outcome in outcomes:
            self._absorb(outcome, self.scores)
        ranked = self._ranked()
        if not ranked:
            return self.best()
        top = distinct(ranked, 6)
        controls = ranked[-len(top) :]
        if self.remaining() >= 1:
            texts = [frame.format(w=w) for w in top + controls for frame in FRAMES]
            [framed] = yield Step(
                "Check that the top responders still fire inside sentences and the weakest words stay quiet.",
                [Call("call_function", {"subject": subject, "inputs": texts})],
            )
            self._absorb(framed, self.framed)
            positives = [self.framed[f.format(w=w)] for w in top for f in FRAMES if f.format(w=w) in self.framed]
            negatives = [self.framed[f.format(w=w)] for w in controls for f in FRAMES if f.format(w=w) in self.framed]
            if positives and negatives:
                self.confirmation = (
                    auc(positives, negatives),
                    sum(positives) / len(positives),
                    sum(negatives) / len(negatives),
                )
        final = self.best()
        supported = self.confirmation is not None and self.confirmation[0] >= 0.9
        yield from hypothesis_steps(
            self,
            final.description,
            final.confidence,
            self.experiments,
            supported,
            self._evidence_note(),
        )
        return self.best()

    def _evidence_note(self) -> str:
        if self.confirmation is None:
            return "no in-context confirmation was run"
        auc, high, low = self.confirmation
        return (
            f"in sentences the top responders average {fmt(high, 3)} and the weakest words {fmt(low, 3)} "
            f"(AUC {fmt(auc, 3)})"
        )

    def best(self) -> Final:
        """The named concept and its responders, or an honest non-answer when nothing was measured."""
        ranked = self._ranked()
        if not ranked:
            reason = f" ({self.errors[0]})" if self.errors else ""
            return Final(
                label="entity neuron: no responses observed",
                description=f"The neuron could not be probed{reason}, so no claim is made about what it responds to.",
                confidence=0.0,
                evidence=self.experiments,
            )
        responders = distinct(ranked, TOP_RESPONDERS)
        peak = self.scores[ranked[0]]
        strong = [w for w in ranked if self.scores[w] >= 0.5]
        name = self._name()
        listed = ", ".join(responders)
        if name is not None:
            head = f"Responds to words about {name[0]}, such as {listed}"
            label = f"{name[0]}: {', '.join(responders[:4])}"
        else:
            head = f"Responds to words such as {listed}"
            label = f"words like {', '.join(responders[:4])}"
        details = (
            f". Of {len(ranked)} frequent English words surveyed, {len(strong)} score ≥ 0.5 "
            f"(peak {fmt(peak, 3)} on '{ranked[0]}')"
        )
        if name is not None:
            details += f"; the best-firing category noun is '{name[0]}' ({fmt(name[1], 3)})"
        if self.confirmation is not None:
            details += f"; {self._evidence_note()}"
        confidence = min(0.95, max(0.05, peak)) * (self.confirmation[0] if self.confirmation else 0.7)
        return Final(
            label=clip_words(label),
            description=head + details + ".",
            confidence=confidence,
            evidence=self.experiments,
        )

    def describe(self, call: Call, outcome: Outcome) -> str:
        """Each text's activation."""
        if not outcome.ok or outcome.result is None:
            return f"That call failed: {outcome.error}"
        parts = [
            f"{item.get('input')!r} → {fmt(float(item['output']), 3)}"
            for item in outcome.result.get("outcomes") or []
            if isinstance(item.get("output"), (int, float))
        ]
        return "Activations: " + "; ".join(parts) + "."
