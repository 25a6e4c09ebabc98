"""The FIND-style numeric suite generator (evals/gen_numeric.py)."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest

from evals.generators.numeric import (
    COMBO_FAMILIES,
    FAMILIES,
    SINGLE_FAMILIES,
    compile_f,
    generate_numeric,
    grid,
    value_scale,
)
from evals.suite import NumericItem, load_suite, write_suite

N = 300


@pytest.fixture(scope="module")
def items() -> list[NumericItem]:
    """The suite every test looks at: n=300, seed 0."""
    return generate_numeric(N, 0)


def _meta(item: NumericItem, key: str) -> object:
    return item.metadata()[key]


def _dump(items: list[NumericItem]) -> str:
    return "\n".join(json.dumps(i.model_dump(mode="json"), sort_keys=True) for i in items)


def test_deterministic_for_a_seed() -> None:
    """Same seed → identical JSON; a different seed → a different suite."""
    assert _dump(generate_numeric(40, 7)) == _dump(generate_numeric(40, 7))
    assert _dump(generate_numeric(40, 7)) != _dump(generate_numeric(40, 8))


def test_ids_kind_and_table(items: list[NumericItem]) -> None:
    """Ids are num-00000..., kind numeric; 16 single families, combos from FIND's 9."""
    assert [i.id for i in items] == [f"num-{k:05d}" for k in range(N)]
    assert {i.kind for i in items} == {"numeric"}
    assert len(SINGLE_FAMILIES) == 16
    assert set(COMBO_FAMILIES) <= set(FAMILIES)


def test_family_proportions(items: list[NumericItem]) -> None:
    """15% combos (sum or product of two from the combo list); singles spread over all 16 families."""
    families = [str(_meta(i, "family")) for i in items]
    combos = [f for f in families if ":" in f]
    assert abs(len(combos) / N - 0.15) < 0.02
    for label in combos:
        op, pair = label.split(":")
        assert op in ("sum", "product")
        assert all(name in COMBO_FAMILIES for name in pair.split("+"))
    singles = Counter(f for f in families if ":" not in f)
    assert set(singles) == set(SINGLE_FAMILIES)
    assert max(singles.values()) - min(singles.values()) <= 1


def test_complication_proportions(items: list[NumericItem]) -> None:
    """≈15% MLP, 19% corrupted interval, 18% noise, 48% clean."""
    groups = Counter(str(_meta(i, "complication")).split(":")[0] for i in items)
    expected = {"mlp": 0.15, "interval": 0.191, "noise": 0.176, "none": 0.483}
    for key, share in expected.items():
        assert abs(groups[key] / N - share) < 0.02, (key, groups)
    kinds = Counter(str(_meta(i, "complication")) for i in items)
    for sub in ("noise:normal", "noise:uniform", "noise:poisson", "interval:inside", "interval:left", "interval:right"):
        assert kinds[sub] >= 10


def test_every_function_runs_on_the_grid(items: list[NumericItem]) -> None:
    """No exception at x = i + 0.5 in the domain; finite outputs; NaN outside a restricted domain."""
    for item in items:
        fn, base = compile_f(item.code), compile_f(str(_meta(item, "base_code")))
        for x in grid(item.domain):
            assert math.isfinite(fn(x)), (item.id, x)
            assert math.isfinite(base(x)), (item.id, x)
        if tuple(item.domain) != (-128.0, 128.0):
            outside = [i + 0.5 for i in range(-128, 128) if not item.domain[0] <= i + 0.5 <= item.domain[1]]
            assert outside and all(math.isnan(fn(x)) for x in outside), item.id


def test_mlp_reproduces_the_base(items: list[NumericItem]) -> None:
    """The network literals in the code approximate the base function: NMSE < 0.1 for most."""
    scores = []
    for item in items:
        if _meta(item, "complication") != "mlp":
            continue
        assert "an approximation" in item.description
        assert "import" not in item.code
        fn, base = compile_f(item.code), compile_f(str(_meta(item, "base_code")))
        xs = grid(item.domain)
        truth, pred = [base(x) for x in xs], [fn(x) for x in xs]
        num = sum((t - p) ** 2 for t, p in zip(truth, pred, strict=True))
        scores.append(num / max(sum(t * t for t in truth), 1e-12))
    assert len(scores) >= 30
    assert sum(s < 0.1 for s in scores) / len(scores) >= 0.85


def test_corrupted_intervals(items: list[NumericItem]) -> None:
    """Inside the interval values are N(mean f, 0.1) and differ from f; outside they match exactly."""
    seen = 0
    for item in items:
        if not str(_meta(item, "complication")).startswith("interval:"):
            continue
        seen += 1
        bounds = _meta(item, "interval")
        assert isinstance(bounds, list) and len(bounds) == 2
        lo: float | None = bounds[0]
        hi: float | None = bounds[1]
        assert (lo is None) != (hi is None) or _meta(item, "complication") == "interval:inside"
        if lo is not None and hi is not None:
            assert 5 <= hi - lo <= 25.05
        fn, base = compile_f(item.code), compile_f(str(_meta(item, "base_code")))
        xs = grid(item.domain)
        mean = sum(base(x) for x in xs) / len(xs)
        inside = [x for x in xs if (lo is None or x >= lo) and (hi is None or x <= hi)]
        assert inside, item.id
        assert any(fn(x) != base(x) for x in inside)
        assert all(abs(fn(x) - mean) < 1.0 for x in inside), item.id
        assert all(fn(x) == base(x) for x in xs if x not in inside), item.id
    assert seen >= 40


def test_noise_is_random_and_clean_is_not(items: list[NumericItem]) -> None:
    """Noised functions vary between calls; clean ones do not."""
    for item in items:
        comp = str(_meta(item, "complication"))
        fn = compile_f(item.code)
        xs = grid(item.domain)[:20]
        repeat = [fn(x) == fn(x) for x in xs]
        if comp.startswith("noise:"):
            assert not all(repeat), item.id
        elif comp in ("none", "mlp"):
            assert all(repeat), item.id


_CLAIM = re.compile(r"^f\((?P<x>[-0-9.e+]+)\) ≈ (?P<y>[-0-9.e+]+)$")


def test_unit_tests_have_exactly_one_true_claim(items: list[NumericItem]) -> None:
    """Five tests per item; exactly one claim matches the clean function, the index is the answer."""
    for item in items:
        assert len(item.unit_tests) == 5
        base = compile_f(str(_meta(item, "base_code")))
        scale = value_scale([base(x) for x in grid(item.domain)])
        for test in item.unit_tests:
            truths = []
            for option in test.options:
                match = _CLAIM.match(option)
                assert match, option
                x, y = float(match["x"]), float(match["y"])
                assert item.domain[0] <= x <= item.domain[1]
                truths.append(abs(base(x) - y) <= 0.05 * scale)
            assert truths.count(True) == 1, (item.id, test)
            assert truths.index(True) == test.answer


def test_round_trip_through_write_and_load(items: list[NumericItem], tmp_path: Path) -> None:
    """Items validate as NumericItem and survive write_suite / load_suite with their metadata."""
    path = write_suite(items, tmp_path / "numeric.jsonl")
    suite = load_suite(path)
    assert suite.errors == []
    assert [i.id for i in suite.items] == [i.id for i in items]
    for before, after in zip(items, suite.items, strict=True):
        assert isinstance(after, NumericItem)
        assert after.code == before.code and after.description == before.description
        assert tuple(after.domain) == tuple(before.domain)
        assert after.metadata() == json.loads(json.dumps(before.metadata()))
        assert after.unit_tests == before.unit_tests
        NumericItem.model_validate(before.model_dump(mode="json"))
