"""Scorers on hand-made explanations: right, wrong and crashing code; unit tests; detection."""

from __future__ import annotations

import math

import pytest

from evals.scoring.scorers import balanced_accuracy, detection_score, score_numeric, score_string, unit_test_accuracy
from evals.suite import UnitTest
from tools.functions.sandbox import SandboxLimits

PARABOLA = "def f(x):\n    return 0.1*x**2 - 3\n"


def test_numeric_right_wrong_and_crashing() -> None:
    right = score_numeric(PARABOLA, "def f(x):\n    return x*x/10 - 3\n")
    assert right.passed and right.nmse is not None and right.nmse < 1e-12 and right.points == 256
    close = score_numeric(PARABOLA, "def f(x):\n    return 0.1*x**2\n")  # off by a constant: still passes
    assert close.passed and 0 < (close.nmse or 0) < 0.1
    wrong = score_numeric(PARABOLA, "def f(x):\n    return 5*x\n")
    assert not wrong.passed and (wrong.nmse or 0) > 0.1
    crash = score_numeric(PARABOLA, "def f(x):\n    return 1/0\n")
    assert not crash.passed and "ZeroDivisionError" in (crash.error or "")
    assert not score_numeric(PARABOLA, "def g(x):\n    return x\n").passed
    assert not score_numeric(PARABOLA, None).passed
    hang = score_numeric(PARABOLA, "def f(x):\n    while True: pass\n", limits=SandboxLimits(timeout_s=1.0))
    assert not hang.passed and "timed out" in (hang.error or "")


def test_numeric_drops_nan_truth_and_fails_nan_predictions() -> None:
    log = "def f(x):\n    import math\n    return math.log(x) if x > 0 else float('nan')\n"
    ok = score_numeric(log, "def f(x):\n    import math\n    return math.log(abs(x))\n")
    assert ok.passed and ok.points == 128  # only the positive half counts
    nan = score_numeric(PARABOLA, "def f(x):\n    return float('nan')\n")
    assert not nan.passed and nan.nmse == math.inf
    zero = score_numeric("def f(x):\n    return 0.0\n", "def f(x):\n    return 0.01\n")
    assert zero.passed  # all-zero truth: mean squared error instead of NMSE


def test_string_exact_match() -> None:
    tests = ["Hello", "ABC def", "", "x1!"]
    truth = "def f(x):\n    return x.lower()\n"
    assert score_string(truth, "def f(x):\n    return x.casefold()\n", tests).hit_rate == 1.0
    half = score_string(truth, "def f(x):\n    return x\n", tests)
    assert half.hits == [False, False, True, True] and half.hit_rate == 0.5
    assert score_string(truth, "def f(x):\n    return x[10]\n", tests).hit_rate == 0.0
    assert score_string(truth, "this is not python", tests).error


class KeywordEvaluator:
    """A transparent evaluator for scorer tests: an option matches when it shares a word with the description."""

    name = "keyword"

    def choose(self, description: str, options: list[str]) -> int:
        words = set(description.lower().split())
        return max(range(len(options)), key=lambda i: len(words & set(options[i].lower().split())))

    def detect(self, description: str, texts: list[str]) -> list[bool]:
        words = set(description.lower().split())
        return [bool(words & set(t.lower().split())) for t in texts]


def test_unit_tests_and_detection() -> None:
    tests = [
        UnitTest(options=["red car", "blue whale", "green tea"], answer=0),
        UnitTest(options=["dog", "cat", "red rose"], answer=2),
    ]
    judge = KeywordEvaluator()
    assert unit_test_accuracy(judge, "responds to red things", tests) == 1.0
    assert unit_test_accuracy(judge, "responds to blue whale", tests) == 0.0
    assert unit_test_accuracy(judge, "anything", []) is None
    positives, negatives = ["a red apple", "red sky"], ["a green field", "blue sea"]
    assert detection_score(judge, "red", positives, negatives) == 1.0
    assert detection_score(judge, "green", positives, negatives) == pytest.approx(0.25)
    assert balanced_accuracy([True, True, True, True], [True, True, False, False]) == 0.5
