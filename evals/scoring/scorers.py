"""Scorers (DESIGN §3): FIND numeric NMSE, string exact match, 3-way unit tests, detection.

Agent code is untrusted: numeric and string scoring run both the ground truth and the agent's code in
the sandbox. Any failure of the agent's code (does not compile, no ``f``, an exception on a scoring
input, a timeout) fails the item, as in FIND.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from evals.judges.base import Evaluator
from store.errors import InputError
from tools.functions.sandbox import SandboxLimits, SandboxResult, run_function

#: FIND's scoring inputs: x = i + 0.5 for i in [-128, 128).
FIND_INPUTS: list[float] = [i + 0.5 for i in range(-128, 128)]
NMSE_PASS = 0.1
SCORING_LIMITS = SandboxLimits(timeout_s=20.0)


class NumericScore(BaseModel):
    """FIND numeric score of one explanation."""

    nmse: float | None
    passed: bool
    points: int
    error: str | None = None


class StringScore(BaseModel):
    """Exact-match score of one explanation's code on the test inputs."""

    hit_rate: float
    hits: list[bool]
    error: str | None = None


def _outputs(
    code: str, inputs: Sequence[Any], who: str, limits: SandboxLimits = SCORING_LIMITS
) -> tuple[list[Any] | None, str | None]:
    try:
        result: SandboxResult = run_function(code, list(inputs), limits=limits)
    except InputError as exc:
        return None, f"{who} code: {exc}"
    if result.error:
        return None, f"{who} code: {result.error}"
    failed = next((o for o in result.outcomes if o.error), None)
    if failed is not None:
        return None, f"{who} code failed on {failed.input!r}: {failed.error}"
    return [o.output for o in result.outcomes], None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def score_numeric(
    truth_code: str,
    predicted_code: str | None,
    domain: Sequence[float] | None = None,
    *,
    limits: SandboxLimits = SCORING_LIMITS,
) -> NumericScore:
    """NMSE = Σ(gt − pred)² / Σgt² over the FIND inputs inside ``domain``; gt NaN/inf points dropped.

    Passes when NMSE < 0.1. When the ground truth is zero everywhere (Σgt² = 0) the mean squared
    error is used instead, with the same threshold. A crash, a non-finite prediction where the truth
    is finite, or no code at all fails.
    """
    lo, hi = (domain[0], domain[1]) if domain is not None else (-math.inf, math.inf)
    xs = [x for x in FIND_INPUTS if lo <= x <= hi]
    if not predicted_code:
        return NumericScore(nmse=None, passed=False, points=0, error="the explanation has no code")
    truth, error = _outputs(truth_code, xs, "ground-truth")
    if truth is None:
        raise InputError(error or "ground truth failed")
    predicted, error = _outputs(predicted_code, xs, "explanation", limits)
    if predicted is None:
        return NumericScore(nmse=None, passed=False, points=0, error=error)
    pairs = [(t, p) for t, p in zip(truth, predicted, strict=True) if _finite(t)]
    if not pairs:
        raise InputError("the ground truth is not finite on any scoring input")
    if any(not _finite(p) for _, p in pairs):
        return NumericScore(nmse=math.inf, passed=False, points=len(pairs), error="non-finite predictions")
    squared_error = sum((t - p) ** 2 for t, p in pairs)
    energy = sum(t * t for t, _ in pairs)
    nmse = squared_error / energy if energy > 0 else squared_error / len(pairs)
    return NumericScore(nmse=nmse, passed=nmse < NMSE_PASS, points=len(pairs))


def score_string(truth_code: str, predicted_code: str | None, tests: Sequence[str]) -> StringScore:
    """Share of test inputs on which the explanation's code gives exactly the ground truth's output."""
    if not tests:
        raise InputError("a string item needs test inputs")
    if not predicted_code:
        return StringScore(hit_rate=0.0, hits=[False] * len(tests), error="the explanation has no code")
    truth, error = _outputs(truth_code, tests, "ground-truth")
    if truth is None:
        raise InputError(error or "ground truth failed")
    try:
        result = run_function(predicted_code, list(tests), limits=SCORING_LIMITS)
    except InputError as exc:
        return StringScore(hit_rate=0.0, hits=[False] * len(tests), error=f"explanation code: {exc}")
    outputs: list[Any] = [o.output if o.error is None else None for o in result.outcomes]
    outputs += [None] * (len(tests) - len(outputs))  # inputs never reached (timeout) count as misses
    hits = [o is not None and o == t for o, t in zip(outputs, truth, strict=True)]
    return StringScore(hit_rate=sum(hits) / len(hits), hits=hits, error=result.error)


_TEST_WORDS = ("hello", "World", "Python", "data", "Quick", "brown", "fox", "a", "racecar", "Level", "x")


def default_string_tests(item_id: str, count: int = 10) -> list[str]:
    """Test inputs for a string item that has none: varied, and fixed by the item's id (DESIGN §3)."""
    rng = random.Random(int(hashlib.sha256(item_id.encode()).hexdigest()[:16], 16))
    tests = ["", "Hello World"]
    while len(tests) < count:
        words = [rng.choice(_TEST_WORDS) for _ in range(rng.randint(1, 4))]
        text = " ".join(words)
        if rng.random() < 0.4:
            text += str(rng.randint(0, 999))
        if rng.random() < 0.3:
            text += rng.choice("!?.,;")
        tests.append(text)
    return tests


def unit_test_accuracy(evaluator: Evaluator, description: str, tests: Sequence[Any]) -> float | None:
    """Share of 3-way unit tests the evaluator answers correctly from ``description`` (None: no tests)."""
    if not tests:
        return None
    right = sum(evaluator.choose(description, [str(o) for o in t.options]) == t.answer for t in tests)
    return right / len(tests)


def balanced_accuracy(predicted: Sequence[bool], actual: Sequence[bool]) -> float:
    """(TP/P + TN/N) / 2; a class with no members counts as perfectly classified."""
    positives = [p for p, a in zip(predicted, actual, strict=True) if a]
    negatives = [p for p, a in zip(predicted, actual, strict=True) if not a]
    tpr = sum(positives) / len(positives) if positives else 1.0
    tnr = sum(not p for p in negatives) / len(negatives) if negatives else 1.0
    return (tpr + tnr) / 2


def detection_score(
    evaluator: Evaluator, description: str, positives: Sequence[str], negatives: Sequence[str]
) -> float | None:
    """Balanced accuracy of the evaluator telling positives from negatives using ``description``."""
    if not positives or not negatives:
        return None
    texts = list(positives) + list(negatives)
    predicted = evaluator.detect(description, texts)
    return balanced_accuracy(predicted, [True] * len(positives) + [False] * len(negatives))
