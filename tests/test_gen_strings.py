"""evals.generators.strings: FIND-style string functions: determinism, coverage, non-redundancy, safe code, tests."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from evals.generators.strings import (
    PRIMITIVES,
    PROBES,
    build_code,
    generate_strings,
    redundancy,
    run_code,
)
from evals.suite import StringItem, load_suite, write_suite

N = 300


@pytest.fixture(scope="module")
def items() -> list[StringItem]:
    return generate_strings(N, seed=7)


def _dump(items: list[StringItem]) -> str:
    return json.dumps([item.model_dump(mode="json") for item in items], sort_keys=True)


def _weird_inputs() -> list[str]:
    rng = random.Random(99)
    alphabet = "aZ09 \t\n.,!?ßÉü日🙂²½_-"
    extra = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(20)]
    return ["", " ", "²³", "½", "\x00", "ǅ", "ﬁ", "İ", *extra]


def test_same_seed_same_suite_different_seed_differs() -> None:
    first = generate_strings(40, seed=3)
    assert _dump(first) == _dump(generate_strings(40, seed=3))
    assert _dump(first) != _dump(generate_strings(40, seed=4))


def test_at_least_40_primitives_each_runnable_and_described() -> None:
    assert len(PRIMITIVES) >= 40
    rng = random.Random(0)
    for name, spec in PRIMITIVES.items():
        params = spec.sample(rng)
        assert spec.describe(params).strip(), name
        code = build_code([(name, params)])
        for x in PROBES:
            assert isinstance(run_code(code, x), str), (name, x)


def test_known_redundant_pairs_are_detected() -> None:
    assert redundancy([("reverse", {}), ("reverse", {})]) == "identity"
    assert redundancy([("upper", {}), ("lower", {})]) is not None
    assert redundancy([("lower", {}), ("upper", {})]) is not None
    assert redundancy([("length", {}), ("lower", {})]) is not None  # equals length alone
    assert redundancy([("caesar", {"k": 3}), ("caesar", {"k": 4})]) is not None  # equals caesar 7
    assert redundancy([("first_k", {"k": 3}), ("first_k", {"k": 5})]) is not None  # equals first_k 3
    assert redundancy([("reverse", {}), ("spaces_to", {"s": "#"})]) is None


def test_half_compositions_none_redundant(items: list[StringItem]) -> None:
    depths = Counter(item.metadata()["depth"] for item in items)
    assert abs(depths[2] - N / 2) <= 1 and depths[1] + depths[2] == N
    for item in items:
        meta = item.metadata()
        steps = [(step["primitive"], step["params"]) for step in meta["steps"]]
        assert len(steps) == meta["depth"]
        assert build_code(steps) == item.code
        assert redundancy(steps) is None, (item.id, item.description)
        if meta["depth"] == 1:
            assert meta["family"] == steps[0][0]
        else:
            assert meta["family"] == f"compose:{steps[0][0]}+{steps[1][0]}"
            assert ", then " in item.description


def test_generated_code_never_raises(items: list[StringItem]) -> None:
    weird = _weird_inputs()
    for item in items:
        assert item.code.startswith("def f(x):")
        assert "import" not in item.code
        assert item.tests is not None and len(item.tests) == 10
        for x in [*item.tests, *PROBES, *weird]:
            assert isinstance(run_code(item.code, x), str), (item.id, x)


def test_test_inputs_are_varied(items: list[StringItem]) -> None:
    assert sum(1 for item in items if item.tests and "" in item.tests) > 0
    all_inputs = [x for item in items for x in item.tests or []]
    assert any(" " in x for x in all_inputs)
    assert any(any(c.isdigit() for c in x) for x in all_inputs)
    assert any(any(c.isupper() for c in x) for x in all_inputs)
    assert any(not x.isascii() for x in all_inputs)
    assert len({tuple(item.tests or []) for item in items}) > N * 0.9


def test_descriptions_distinct_for_distinct_functions(items: list[StringItem]) -> None:
    assert all(item.description.strip() for item in items)
    by_code = {item.code: item.description for item in items}
    assert len(by_code) >= N * 0.95  # duplicates are avoided
    assert len(set(by_code.values())) >= len(by_code) * 0.95


def test_unit_tests_have_exactly_one_correct_option(items: list[StringItem]) -> None:
    for item in items:
        assert len(item.unit_tests) == 5, item.id
        for test in item.unit_tests:
            inputs = set()
            outputs = []
            for option in test.options:
                left, right = option.split(" = ", 1)
                assert left.startswith("f(") and left.endswith(")")
                x = eval(left[2:-1])  # our own repr of a str
                inputs.add(x)
                outputs.append(eval(right))
            assert len(inputs) == 1
            (x,) = inputs
            truth = run_code(item.code, x)
            assert [out == truth for out in outputs].count(True) == 1, (item.id, test)
            assert outputs[test.answer] == truth
            assert len(set(outputs)) == 3
    answers = Counter(test.answer for item in items for test in item.unit_tests)
    assert set(answers) == {0, 1, 2}


def test_items_validate_and_round_trip(items: list[StringItem], tmp_path: Path) -> None:
    for item in items[:50]:
        assert StringItem.model_validate(item.model_dump(mode="json")) == item
        assert item.id.startswith("str-") and len(item.id) == 9
    path = write_suite(items, tmp_path / "strings.jsonl")
    suite = load_suite(path)
    assert suite.errors == []
    assert len(suite.items) == N
    for original, loaded in zip(items, suite.items, strict=True):
        assert isinstance(loaded, StringItem)
        assert loaded.model_dump(mode="json") == original.model_dump(mode="json")


def test_negative_n_rejected_and_zero_empty() -> None:
    assert generate_strings(0, seed=1) == []
    with pytest.raises(ValueError):
        generate_strings(-1, seed=1)
