"""Planted units (evals.generators.planted): weight surgery makes a neuron fire on a concept's held-out words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evals.generators.planted import OPTION_CARRIER, PlantReport, plant_units
from evals.suite import ModelUnitItem, load_suite
from store.settings import Settings
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime

PREFIXES = ["red", "big", "old", "tin", "sun", "wet", "hot", "ice", "raw"]
#: For the random tiny model there is no semantics: each "concept" shares its words' last token.
TINY_POOL = {suffix: [p + suffix for p in PREFIXES] for suffix in ("fox", "dog", "cat", "moon", "mat", "sat")}


def _max_acts(runtime: ModelRuntime, unit: str, texts: list[str]) -> list[float]:
    return [float(t.max()) for t in runtime.run(texts, capture=[unit]).captures[unit]]


def _balanced_accuracy(pos: list[float], neg: list[float]) -> float:
    threshold = (sum(pos) / len(pos) + sum(neg) / len(neg)) / 2
    return (sum(v > threshold for v in pos) / len(pos) + sum(v <= threshold for v in neg) / len(neg)) / 2


def _check_suite(report: PlantReport, settings: Settings) -> tuple[ModelRuntime, list[ModelUnitItem]]:
    suite = load_suite(report.suite)
    assert suite.errors == []
    items = [item for item in suite.items if isinstance(item, ModelUnitItem)]
    assert len(items) == len(report.units)
    runtime = ModelRuntime(load_model(report.model_dir, settings))
    for item, unit in zip(items, report.units, strict=True):
        assert item.unit == unit.unit and item.model == report.model_dir
        assert len(item.positives) == 8 and len(item.negatives) == 8
        assert not set(unit.words) & set(unit.held_out)
        for text in item.positives:
            tokens = set(re.findall(r"\w+", text))
            assert tokens & set(unit.held_out) and not tokens & set(unit.words)
        for test in item.unit_tests:
            acts = _max_acts(runtime, item.unit, [OPTION_CARRIER.replace("{w}", str(o)) for o in test.options])
            assert max(range(3), key=lambda j: acts[j]) == test.answer
            assert test.options[test.answer] in unit.held_out
    return runtime, items


def test_plant_tiny_llama(tiny_llama_dir: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    report = plant_units(str(tiny_llama_dir), tmp_path / "out", 2, seed=0, settings=settings, pool=TINY_POOL)
    assert len({u.unit for u in report.units}) == 2
    runtime, items = _check_suite(report, settings)
    for item in items:
        pos = _max_acts(runtime, item.unit, item.positives)
        neg = _max_acts(runtime, item.unit, item.negatives)
        # A random model has no concepts, so a stray context may fire; the means still sit far apart.
        assert sum(pos) / 8 > 3 * max(sum(neg) / 8, 0.2)
        assert sorted(pos)[4] > sorted(neg)[4]
        assert len(item.unit_tests) >= 5
    again = plant_units(str(tiny_llama_dir), tmp_path / "again", 2, seed=0, settings=settings, pool=TINY_POOL)
    assert [u.model_dump() for u in again.units] == [u.model_dump() for u in report.units]


@pytest.mark.slow
def test_plant_embedded(embedded_home: Path, tmp_path: Path) -> None:
    settings = Settings(home=embedded_home)
    report = plant_units("smollm2-135m", tmp_path / "out", 3, seed=0, settings=settings)
    assert abs(report.checks["loss_rel_change"]) < 0.1
    runtime, items = _check_suite(report, settings)
    for item in items:
        pos = _max_acts(runtime, item.unit, item.positives)
        neg = _max_acts(runtime, item.unit, item.negatives)
        assert _balanced_accuracy(pos, neg) >= 0.9, (item.unit, pos, neg)
        assert len(item.unit_tests) >= 6
