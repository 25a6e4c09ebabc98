"""The builtin scientist's policy for string functions (DESIGN §3).

``call_function`` on designed probes, then a program search over a DSL of common string operations with
depth-2 compositions and inferred parameters (``agent.builtin.string_programs``) and, when no DSL program
fits, program synthesis beyond it (``agent.builtin.string_synthesis``: substitution tables, position and
index edits, shifts read from the data, numbers as words, per-word edits, conditionals); up to
`MAX_STRING_ROUNDS` further calls ask for inputs on which the consistent programs disagree, until one
behaviour is left. The cheapest consistent program wins; its description is "The function <step>[,
then <step>]." in canonical wording. With no consistent program, the one right on most inputs is given.
"""

from __future__ import annotations

from typing import Any

from agent.builtin.protocol import Call, Final, Outcome, Policy, PolicyRun, Step, clip_words, hypothesis_steps
from agent.builtin.string_programs import (
    PROBES,
    Program,
    closest_program,
    disagreement_inputs,
    probe_pool,
)
from agent.builtin.string_synthesis import search

__all__ = ["MAX_STRING_ROUNDS", "StringPolicy"]

MAX_STRING_ROUNDS = 4  # disambiguation rounds after the probes


class StringPolicy(Policy):
    """Probe strings, search the DSL, ask where the consistent programs disagree, repeat (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.observations: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.experiments: list[int] = []
        self.verified: bool | None = None

    def _absorb(self, outcome: Outcome) -> None:
        if not outcome.ok or outcome.result is None:
            return
        if outcome.experiment_id is not None:
            self.experiments.append(outcome.experiment_id)
        for item in outcome.result.get("outcomes") or []:
            x = item.get("input")
            if not isinstance(x, str):
                continue
            if item.get("error"):
                self.errors[x] = str(item["error"])
            else:
                self.observations[x] = item.get("output")

    def _candidates(self) -> list[Program]:
        return search(self.observations, limit=16)

    def steps(self) -> PolicyRun:
        """Probes → (inputs where the consistent programs disagree)* → hypothesis → explanation."""
        subject = self.task.subject
        if not self.task.can("call_function"):
            return self.best()
        [first] = yield Step(
            "Call the function on designed probe strings (cases, digits, spaces, punctuation, accents, empty).",
            [Call("call_function", {"subject": subject, "inputs": list(PROBES)})],
        )
        if not first.ok:
            return self.best()
        self._absorb(first)
        for round_ in range(MAX_STRING_ROUNDS):
            if self.remaining() < 2:
                break
            candidates = self._candidates()
            split = disagreement_inputs(candidates[:16], self.observations, count=24)
            if round_ == 0:
                fresh = [s for s in probe_pool() if s not in self.observations and s not in split][:12]
                reason = "Test inputs where the consistent programs disagree, and fresh inputs to check the best one."
            elif split:
                fresh = []
                reason = f"{len(candidates)} programs still fit; test inputs that tell them apart."
            else:
                break
            inputs = split + fresh
            if not inputs:
                break
            [more] = yield Step(reason, [Call("call_function", {"subject": subject, "inputs": inputs})])
            if not more.ok:
                break
            before = candidates[0] if candidates else None
            self._absorb(more)
            if before is not None:
                self.verified = all(
                    before.run([s]) == (self.observations[s],) for s in inputs if s in self.observations
                )
        final = self.best()
        yield from hypothesis_steps(
            self,
            final.description,
            final.confidence,
            self.experiments,
            bool(self.verified) and final.confidence > 0.5,
            "the program reproduces every observed output" if final.confidence > 0.5 else "no exact program found",
        )
        return self.best()

    def best(self) -> Final:
        """The cheapest program consistent with everything seen, or the closest one."""
        if not self.observations:
            return Final(
                label="unknown string function",
                description="The function could not be characterised: no outputs were observed.",
                confidence=0.0,
                evidence=self.experiments,
                code="def f(x):\n    return x\n",
            )
        found = self._candidates()
        domain = None
        if self.errors:
            shown = ", ".join(repr(s) for s in sorted(self.errors)[:5])
            domain = f"raises on some inputs, e.g. {shown}"
        n = len(self.observations)
        if found:
            program = found[0]
            others = [p.short for p in found[1:3]]
            confidence = 0.9 if self.verified else 0.75
            if len(found) > 1 and not self.verified:
                confidence = 0.6
            description = (
                f"The function {program.words}. Reproduces all {n} observed input/output pairs"
                + (f"; also consistent: {'; '.join(others)}" if others else "")
                + "."
            )
            return Final(
                label=clip_words(program.short),
                description=description,
                confidence=confidence,
                evidence=self.experiments,
                code=program.code,
                domain=domain,
            )
        hits, program = closest_program(self.observations)
        return Final(
            label=clip_words(f"approximately: {program.short}"),
            description=f"The function {program.words} (approximately: no program in my DSL reproduces every "
            f"output; this one is right on {hits} of {n} observed inputs).",
            confidence=0.3 * hits / max(n, 1),
            evidence=self.experiments,
            code=program.code,
            domain=domain,
        )

    def describe(self, call: Call, outcome: Outcome) -> str:
        """The outputs, next to the program's predictions."""
        if not outcome.ok or outcome.result is None:
            return f"That call failed: {outcome.error}"
        found = self._candidates() if self.observations else []
        parts = []
        for item in outcome.result.get("outcomes") or []:
            x, y = item.get("input"), item.get("output")
            text = f"f({x!r}) = {y!r}" if not item.get("error") else f"f({x!r}) raised {item['error']}"
            if found and isinstance(x, str):
                predicted = found[0].run([x])
                if predicted is not None:
                    text += " (as my program predicts)" if predicted[0] == y else f" (I predicted {predicted[0]!r})"
            parts.append(text)
        return "; ".join(parts) + "."
