"""The builtin scientist's search, without the graph or the sandbox: string programs
(agent.builtin.string_programs) and numeric fits (agent.builtin.numeric_fits, agent.builtin.numeric.analyse)."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from agent.builtin.numeric import GRID, analyse, with_levels
from agent.builtin.numeric_fits import choose, fit_all, fit_box, fit_gaussian, fit_square, fit_stairs
from agent.builtin.string_programs import PROBES, Program, disagreement_inputs, prim, probe_pool, search_programs


def _exec(code: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["f"]


# --------------------------------------------------------------------------------------------------
# Strings
# --------------------------------------------------------------------------------------------------


def test_dsl_code_runs_like_its_function() -> None:
    steps = [
        prim("caesar", (("k", 3),)),
        prim("rotate_left", (("k", 2),)),
        prim("insert_at", (("k", 2), ("s", "#"))),
        prim("wrap", (("a", "("), ("b", ")"))),
        prim("digits_to_words"),
        prim("leetspeak"),
    ]
    for step in steps:
        program = Program((step,))
        f = _exec(program.code)
        assert [f(x) for x in PROBES] == [program.fn(x) for x in PROBES], step.name


@pytest.mark.parametrize(
    ("steps", "phrase"),
    [
        ([("atbash", ())], "mirrors every ASCII letter"),
        ([("drop_first_k", (("k", 3),))], "removes the first 3 characters"),
        ([("caesar", (("k", 4),)), ("dedupe_consecutive", ())], "shifts every ASCII letter forward by 4"),
        ([("wrap", (("a", "["), ("b", "]"))), ("every_other", ())], "wraps the string in '[' and ']'"),
        ([("replace_letter", (("a", "e"), ("b", "t"))), ("count_vowels", ())], "returns the number of vowels"),
        ([("swap_pairs", ()), ("suffix", (("s", "<<"),))], "adds the suffix '<<'"),
        ([("remove_punctuation", ())], "removes all ASCII punctuation characters"),
        ([("join_words", (("s", "+"),))], "joins the words with '+'"),
    ],
)
def test_search_recovers_programs(steps: list[tuple[str, Any]], phrase: str) -> None:
    truth = Program(tuple(prim(name, params) for name, params in steps))
    observations: dict[str, Any] = {x: truth.fn(x) for x in PROBES}
    found = search_programs(observations)
    assert found
    # one round of disagreement inputs, as the policy asks for them
    for x in disagreement_inputs(found, observations):
        observations[x] = truth.fn(x)
    best = search_programs(observations)[0]
    pool = probe_pool()
    assert best.run(pool) == truth.run(pool), (best.short, truth.short)
    assert phrase in best.words or phrase in truth.words
    assert best.words.split(",")[0] in truth.words or len(best.steps) == 2


def test_canonical_words_join_with_then() -> None:
    program = Program((prim("lower"), prim("reverse")))
    assert program.words == "converts the string to lowercase, then reverses the string"


def test_no_program_for_random_outputs() -> None:
    rng = random.Random(3)
    observations = {x: "".join(rng.choice("abc") for _ in range(5)) for x in PROBES}
    assert search_programs(observations) == []


# --------------------------------------------------------------------------------------------------
# Numeric
# --------------------------------------------------------------------------------------------------

X = np.array(GRID)


def test_square_wave_box_gaussian_and_stairs_are_recovered() -> None:
    square = 3 * np.sign(np.sin(2 * math.pi / 37.3 * (X - 4.2)))
    fit = fit_square(X, square)
    assert fit is not None and fit.rss / float(np.sum(square**2)) < 0.01
    box = np.where(np.abs(X - 20.3) <= 12.5, 5.0, 0.0) - 1.2
    fit = fit_box(X, box)
    assert fit is not None and fit.rss < 1e-9
    bump = 300 * np.exp(-0.5 * ((X + 31.7) / 9.4) ** 2) / (9.4 * math.sqrt(2 * math.pi))
    fit = fit_gaussian(X, bump)
    assert fit is not None and fit.rss / float(np.sum(bump**2)) < 1e-6
    stairs = 2.5 * np.floor(X / 7.3) - 1
    fit = fit_stairs(X, stairs, "floor")
    assert fit is not None and fit.rss < 1e-9


@pytest.mark.parametrize("family", ["square_wave", "rectangle", "gaussian"])
def test_bic_prefers_the_true_family(family: str) -> None:
    y = {
        "square_wave": 4 * np.sign(np.sin(2 * math.pi / 61.2 * (X + 10.0))),
        "rectangle": np.where(np.abs(X + 50.0) <= 20.0, 7.0, 0.0),
        "gaussian": 10 * np.exp(-0.5 * ((X - 12.0) / 21.0) ** 2),
    }[family]
    chosen = choose(fit_all(X, y), y, 0.0)
    assert chosen.family == family


def test_noisy_interval_is_set_aside_and_coded_as_its_level() -> None:
    rng = random.Random(5)

    def f(x: float) -> float:
        return rng.gauss(-3.0, 0.1) if 10.2 <= x <= 31.0 else 0.5 * x + 2

    points = {x: [f(x), f(x)] for x in GRID}
    result = analyse(points, [])
    assert result is not None and result.fit.family == "linear" and result.nmse < 1e-9
    [(low, high, _)] = result.outliers
    assert 10 <= low <= 10.5 and 30.5 <= high <= 31
    code = with_levels(result.fit.code, [(low - 0.25, high + 0.25, -3.0)])
    g = _exec(code)
    assert g(20.5) == -3.0 and abs(g(40.5) - 22.25) < 1e-9


def test_a_function_without_closed_form_keeps_a_closed_form() -> None:
    """No lookup-table code: samples every 0.5 include the scoring grid, so they are never interpolated."""
    y = {x: [math.sin(x / 9.0) * abs(x) ** 0.7 + (3.0 if x > 40 else 0.0)] * 2 for x in GRID}
    result = analyse(y, [])
    assert result is not None and result.fit.family != "interpolation"
    assert "interp" not in result.fit.code and result.nmse > 1e-4
    _exec(result.fit.code)(0.25)  # runs
