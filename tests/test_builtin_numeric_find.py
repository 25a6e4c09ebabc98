"""The builtin numeric scientist on FIND's own parameterisations, and FIND's numeric suite as data.

``evals/data/find_numeric.jsonl`` holds FIND's own numeric functions (Schwettmann et al., 2023), rebuilt as
suite lines from the metadata the FIND repository publishes (``src/find-dataset/numeric/data.json`` and
``func_name_dict.json``): 850 of FIND's 1000, the 150 MLP approximations left out because FIND does not
publish their weights. ``family`` is FIND's family, ``complication`` is ``none``, ``noise`` or ``corrupted
interval`` and ``description`` keeps FIND's metadata string. It is the builtin's held-out numeric set:
``autointerp eval --suite evals/data/find_numeric.jsonl --agent builtin``.

The fit checks use hand-written functions shaped like FIND's (narrow normal densities, rationals with poles
inside the domain, reciprocals, steps with a value of their own at x = 0, short-period square waves, unit
rectangles), never items of the suite, and drive the policy with in-process functions instead of the sandbox.
"""

from __future__ import annotations

import collections
import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent.builtin.numeric import GRID, NumericPolicy
from agent.builtin.numeric_families import fit_rationals, fit_square_search
from agent.builtin.numeric_fits import choose, fit_all
from agent.builtin.numeric_spikes import isolated_points, spike_candidates, zoom_inputs
from agent.builtin.protocol import Final, Outcome, Task
from evals.scoring.scorers import FIND_INPUTS
from evals.suite import NumericItem, Suite, load_suite

FIND_SUITE = Path(__file__).resolve().parents[1] / "evals" / "data" / "find_numeric.jsonl"
X = np.array(GRID)

# --------------------------------------------------------------------------------------------------
# The suite file
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def suite() -> Suite:
    return load_suite(FIND_SUITE)


def test_find_suite_loads_as_850_numeric_items(suite: Suite) -> None:
    assert suite.errors == []
    assert len(suite.items) == 850
    assert all(isinstance(item, NumericItem) for item in suite.items)
    raw_ids = [json.loads(line)["id"] for line in FIND_SUITE.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [item.id for item in suite.items] == raw_ids and len(set(raw_ids)) == 850


def test_find_suite_carries_family_and_complication(suite: Suite) -> None:
    complications = collections.Counter(item.metadata()["complication"] for item in suite.items)
    assert complications == {"none": 483, "noise": 176, "corrupted interval": 191}
    assert all(item.metadata().get("family") and item.description.strip() for item in suite.items)


def test_find_functions_run_on_the_scoring_inputs(suite: Suite) -> None:
    """Every ground truth compiles and gives a finite output on most scoring inputs (in-process: the
    sandbox runs the same code in the evals)."""
    for item in suite.items:
        assert isinstance(item, NumericItem)
        namespace: dict[str, object] = {}
        exec(item.code, namespace)
        f = namespace["f"]
        assert callable(f)
        outputs = [f(x) for x in FIND_INPUTS[::8]]
        assert sum(isinstance(v, float) and math.isfinite(v) for v in outputs) >= len(outputs) // 2, item.id


# --------------------------------------------------------------------------------------------------
# Driving the policy
# --------------------------------------------------------------------------------------------------


def _outcome(f: Callable[[float], float], inputs: list[float], experiment: int) -> Outcome:
    rows: list[dict[str, object]] = []
    for x in inputs:
        try:
            y = f(x)
        except ZeroDivisionError as exc:
            rows.append({"input": x, "output": None, "error": str(exc)})
            continue
        rows.append({"input": x, "output": y if math.isfinite(y) else "NaN", "error": None})
    return Outcome(ok=True, result={"outcomes": rows}, experiment_id=experiment)


def investigate(f: Callable[[float], float]) -> tuple[Final, NumericPolicy]:
    """Run the numeric policy to its explanation, answering its calls with ``f``."""
    policy = NumericPolicy(Task(subject="s", model=None, kind="numeric", budget=24, tools=frozenset({"call_function"})))
    run = policy.steps()
    try:
        step = next(run)
        while True:
            answers = []
            for call in step.calls:
                policy.used += 1
                answers.append(_outcome(f, call.args["inputs"], policy.used))
            step = run.send(answers)
    except StopIteration as stop:
        final = stop.value
    assert isinstance(final, Final)
    return final, policy


def nmse(truth: Callable[[float], float], code: str | None) -> float:
    """FIND's NMSE of ``code`` against ``truth`` on x = i + 0.5 (undefined truth points dropped)."""
    assert code is not None
    namespace: dict[str, object] = {}
    exec(code, namespace)
    g = namespace["f"]
    assert callable(g)
    pairs = []
    for x in FIND_INPUTS:
        try:
            t = truth(x)
        except ZeroDivisionError:
            continue
        if math.isfinite(t):
            pairs.append((t, float(g(x))))
    energy = sum(t * t for t, _ in pairs)
    return sum((t - p) ** 2 for t, p in pairs) / energy


def _normal(mean: float, sd: float) -> Callable[[float], float]:
    return lambda x: math.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def _ratio(num: list[float], den: list[float]) -> Callable[[float], float]:
    def f(x: float) -> float:
        q = sum(c * x**j for j, c in enumerate(den))
        return sum(c * x**j for j, c in enumerate(num)) / q if q != 0 else float("nan")

    return f


def _step(a: float, b: float, at_zero: float) -> Callable[[float], float]:
    return lambda x: a * (1.0 if x > 0 else (at_zero if x == 0 else 0.0)) + b


def _square(period: float, shift: float) -> Callable[[float], float]:
    return lambda x: 1.0 if math.sin((x - shift) * (2 * math.pi / period)) > 0 else -1.0


CASES: dict[str, Callable[[float], float]] = {
    "narrow normal density": _normal(-21.3, 1.7),
    "rational with poles in the domain": _ratio([2.1, -3.3], [-5.2, 1.9, 7.4, -2.6]),
    "rational, degree 2 over 4": _ratio([-1.2, 4.4, 2.5], [6.1, -0.7, -3.3, 0.8, 5.2]),
    "reciprocal": lambda x: 1.0 / (-3.7 * x) if x != 0 else float("nan"),
    "short square wave": _square(1.4537, -3.8461),
    "square wave": _square(6.3127, 1.8213),
    "unit rectangle": lambda x: 1.0 if abs(x) <= 1.0 / 2 else 0.0,
    "short sinusoid": lambda x: 4.3 * math.sin((2 * math.pi / 1.4) * (x - 2.2)) - 1.1,
}


@pytest.mark.parametrize("name", list(CASES))
def test_find_like_functions_are_recovered(name: str) -> None:
    truth = CASES[name]
    final, _ = investigate(truth)
    assert nmse(truth, final.code) < 0.01, (name, final.label, final.description)


def test_a_single_point_value_is_set_aside_and_reported() -> None:
    truth = _step(-13.4, 2.2, -63.5)
    final, policy = investigate(truth)
    assert policy.isolated == [0.0]
    assert nmse(truth, final.code) < 1e-6
    assert final.domain is not None and "x = 0 exactly" in final.domain
    namespace: dict[str, object] = {}
    exec(final.code or "", namespace)
    g = namespace["f"]
    assert callable(g)
    assert g(0.0) == pytest.approx(truth(0.0)) and g(3.5) == pytest.approx(truth(3.5), abs=1e-6)


def test_a_pole_is_not_taken_for_a_single_point_value() -> None:
    truth = _ratio([1.0], [-0.48, 1.0])  # a pole at x = 0.48: large values on both sides, not one point
    points = {x: [truth(x)] for x in GRID}
    spikes = spike_candidates(points)
    assert spikes, "the sample nearest the pole stands out"
    for x in zoom_inputs(spikes):
        points[x] = [truth(x)]
    assert isolated_points(points, spikes) == []


def test_rational_fit_finds_the_poles() -> None:
    truth = _ratio([2.1, -3.3], [-5.2, 1.9, 7.4, -2.6])
    y = np.array([truth(x) for x in GRID])
    chosen = choose(fit_rationals(X, y), y, 0.0)
    assert chosen.family == "rational" and "poles near" in chosen.words
    assert nmse(truth, chosen.code) < 1e-6


def test_square_wave_search_recovers_a_short_period() -> None:
    truth = _square(1.3521, -4.4437)
    y = np.array([truth(x) for x in GRID])
    omega = next(f for f in fit_all(X, y) if f.family == "sin").params["omega"]
    fit = fit_square_search(X, y, omega)
    assert fit is not None and nmse(truth, fit.code) < 0.01


# --------------------------------------------------------------------------------------------------
# Noise and corrupted intervals
# --------------------------------------------------------------------------------------------------


def test_noise_is_estimated_from_repeated_calls_and_fitted_through() -> None:
    rng = random.Random(11)

    def truth(x: float) -> float:
        return 6.8 * x - 4.0

    def noisy(x: float) -> float:
        return truth(x) + rng.gauss(0, 1)

    final, policy = investigate(noisy)
    result = policy.analysis()
    assert result is not None and 0.85 < result.noise_sd < 1.15
    assert "noisy" in final.description
    assert nmse(truth, final.code) < 1e-4


def test_corrupted_interval_is_found_and_described() -> None:
    rng = random.Random(12)

    def truth(x: float) -> float:
        return 7.4 * math.cos((2 * math.pi / 6.1) * (x - 0.3)) - 0.9

    def corrupted(x: float) -> float:
        return rng.gauss(-0.9, 0.1) if -60.2 < x < -41.7 else truth(x)

    final, policy = investigate(corrupted)
    result = policy.analysis()
    assert result is not None
    [(low, high, _)] = result.outliers
    assert -60.5 <= low <= -59.5 and -42.5 <= high <= -41.5
    assert final.domain is not None and "deviate" in final.domain
    outside = [x for x in FIND_INPUTS if not -60.2 < x < -41.7]
    namespace: dict[str, object] = {}
    exec(final.code or "", namespace)
    g = namespace["f"]
    assert callable(g)
    error = sum((truth(x) - g(x)) ** 2 for x in outside) / sum(truth(x) ** 2 for x in outside)
    assert error < 1e-3 and abs(g(-50.5) + 0.9) < 0.1
