"""The interpreting evaluator: it simulates formulas and canonical string descriptions, and is calibrated
(ground truth scores 1.0 on strings, random descriptions score near chance)."""

from __future__ import annotations

import random

import pytest

from evals.calibration import oracle_explanation, random_explanation
from evals.generators.strings import generate_strings
from evals.judges import make_evaluator
from evals.judges.interpret import InterpretingEvaluator, interpret_numeric, interpret_string, parse_option
from evals.scoring.scorers import unit_test_accuracy


class Recording:
    """A fallback that records what reached it and always picks option 2."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def choose(self, description: str, options: list[str]) -> int:
        self.seen.append(description)
        return 2

    def detect(self, description: str, texts: list[str]) -> list[bool]:
        self.seen.append(description)
        return [True] * len(texts)


def test_parse_option() -> None:
    assert parse_option("f('ab') = 'ba'") == ("ab", "ba")
    assert parse_option("f(27.5) ≈ -245") == (27.5, -245)
    assert parse_option("f('a = b') = 'x'") == ("a = b", "x")
    assert parse_option("pear") is None
    assert parse_option("f(oops) = 3") is None


def test_numeric_formulas_are_computed() -> None:
    f = interpret_numeric("Linear: f(x) ≈ 2*x + 3 on the whole grid; noise sd 0.1.")
    assert f is not None and f(2.0) == 7.0
    g = interpret_numeric("f(x) ≈ 4.1*max(0, x - 2) + abs(x) - sqrt(9) + sin(0) for x > 0")
    assert g is not None and g(3.0) == pytest.approx(4.1)
    assert interpret_numeric("f(x) ≈ 3x^2") is None  # not an expression
    assert interpret_numeric("f(x) ≈ 2 ^ x").__class__ is not type(None)  # '^' is a power
    assert interpret_numeric("f(x) = __import__('os').getcwd()") is None
    assert interpret_numeric("f(x) = x.__class__") is None
    assert interpret_numeric("a parabola opening upward") is None


def test_string_descriptions_in_the_canonical_phrasing_run() -> None:
    f = interpret_string(
        "The function reverses the string, then converts the string to uppercase. Checked on 40 inputs."
    )
    assert f is not None and f("abc d") == "D CBA"
    assert interpret_string("reverses the string, then does something clever") is None
    assert interpret_string("Turns it backwards.") is None


def test_choose_simulates_and_falls_back() -> None:
    fallback = Recording()
    evaluator = InterpretingEvaluator(fallback)
    options = ["f('quIck') = 'quick'", "f('quIck') = 'gkYsa'", "f('quIck') = 'quIck'"]
    assert evaluator.choose("converts the string to lowercase", options) == 0
    assert evaluator.choose("f(x) ≈ -2*x", ["f(3.5) ≈ 7", "f(3.5) ≈ -7", "f(3.5) ≈ 0"]) == 1
    assert fallback.seen == []
    assert evaluator.choose("makes it lower case somehow", options) == 2  # prose: the fallback decides
    assert evaluator.choose("responds to fruit", ["pear", "drum", "Kenya"]) == 2
    assert evaluator.detect("responds to fruit", ["a pear", "a drum"]) == [True, True]
    assert len(fallback.seen) == 3
    assert make_evaluator("interpret").name == "interpret"


def test_calibrated_on_a_generated_string_suite() -> None:
    items = generate_strings(40, seed=31)
    evaluator = InterpretingEvaluator(Recording())
    rng = random.Random(0)
    oracle = [unit_test_accuracy(evaluator, oracle_explanation(i).description, i.unit_tests) for i in items]
    chance = [unit_test_accuracy(evaluator, random_explanation(i, rng).description, i.unit_tests) for i in items]
    assert sum(a or 0 for a in oracle) / len(items) == 1.0
    assert sum(a or 0 for a in chance) / len(items) < 0.7  # the recording fallback always picks option 2
