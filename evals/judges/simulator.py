"""An evaluator that reads an explanation's executable simulator instead of its words.

The explanation of a model unit carries a simulator (``tools.simulation``): it predicts the unit's
activation at each token. This evaluator decides delphi's questions with it:

* **detection** (``detect_tokens``): a context is predicted active when the simulator's largest
  prediction in it (position 0, the attention sink, left out) reaches ``threshold``;
* **fuzzing** (``detect_marked``): a set of highlighted tokens of a context is predicted to be the
  unit's when the simulator's prediction reaches ``threshold`` at any of them (in context);
* ``threshold`` is ``HIGHLIGHT`` (0.3) × the simulator's own largest prediction over a calibration set
  of contexts (`calibrated`): simulators have no common scale, so each is read against its own peak.

``detect(description, texts)`` and ``choose`` satisfy the ``Evaluator`` protocol for plain texts (the
description is not read: the simulator is the explanation); they need a ``tokenize`` function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tools.simulation.run import simulate

HIGHLIGHT = 0.3
"""Share of the simulator's peak that counts as a predicted activation."""


class SimulatorEvaluator:
    """Judges contexts and highlighted tokens by running a simulator (module docstring)."""

    name = "simulator"

    def __init__(self, code: str, *, threshold: float, tokenize: Callable[[str], list[str]] | None = None) -> None:
        self.code = code
        self.threshold = threshold
        self._tokenize = tokenize
        self._memo: dict[tuple[str, ...], list[float]] = {}

    @classmethod
    def calibrated(
        cls, code: str, contexts: Sequence[list[str]], *, tokenize: Callable[[str], list[str]] | None = None
    ) -> SimulatorEvaluator:
        """An evaluator whose threshold is `HIGHLIGHT` × the simulator's peak over ``contexts``."""
        made = cls(code, threshold=0.0, tokenize=tokenize)
        peak = max((max(p[1:], default=0.0) for p in made.predict(contexts)), default=0.0)
        made.threshold = HIGHLIGHT * peak
        return made

    def predict(self, contexts: Sequence[list[str]]) -> list[list[float]]:
        """The simulator's predictions on each context (each context is simulated once per evaluator)."""
        keys = [tuple(c) for c in contexts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._memo))
        if missing:
            for key, row in zip(missing, simulate(self.code, [list(k) for k in missing]), strict=True):
                self._memo[key] = row
        return [self._memo[k] for k in keys]

    def _reaches(self, values: Sequence[float]) -> bool:
        return self.threshold > 0 and bool(values) and max(values) >= self.threshold

    def detect_tokens(self, contexts: Sequence[list[str]]) -> list[bool]:
        """For each context (its tokens), whether the simulator predicts the unit activates in it."""
        return [self._reaches(p[1:]) for p in self.predict(contexts)]

    def detect_marked(self, contexts: Sequence[list[str]], marked: Sequence[Sequence[int]]) -> list[bool]:
        """For each context and set of highlighted positions, whether the simulator predicts activation there."""
        predictions = self.predict(contexts)
        return [self._reaches([p[i] for i in spots]) for p, spots in zip(predictions, marked, strict=True)]

    def _tokens(self, texts: Sequence[str]) -> list[list[str]]:
        if self._tokenize is None:
            raise ValueError("this simulator evaluator has no tokenizer for plain texts")
        return [self._tokenize(str(t)) for t in texts]

    def detect(self, description: str, texts: list[str]) -> list[bool]:
        """For each text, whether the simulator's peak over its tokens reaches the threshold."""
        return [self._reaches(p) for p in self.predict(self._tokens(texts))]

    def choose(self, description: str, options: list[str]) -> int:
        """The option on which the simulator predicts the largest activation (ties: the first)."""
        if not options:
            raise ValueError("choose needs at least one option")
        peaks = [max(p, default=0.0) for p in self.predict(self._tokens(options))]
        return max(range(len(peaks)), key=lambda i: (peaks[i], -i))
