"""The second hand-written held-out string suite (``evals/data/heldout_strings_2.jsonl``) is a valid suite.

Written by hand (issue 15) in the style of FIND's string set — random substitution ciphers, middle-character
edits, shifts by index or by a character's alphabet position, counts written out as words, parity and
character-class conditionals — before the builtin's string search was grown into program synthesis, and
never used to develop it: the synthesizer's held-out figure. The checks are those of
``test_heldout_suite.py``: it loads with the project's loader, ids are unique, there are at least 30
functions, each with 10 distinct test inputs, and every function is total and deterministic on its test
inputs in the sandbox. No agent runs here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.suite import StringItem, Suite, load_suite
from tools.functions.sandbox import run_function

HELDOUT_2 = Path(__file__).resolve().parents[1] / "evals" / "data" / "heldout_strings_2.jsonl"
FIRST = Path(__file__).resolve().parents[1] / "evals" / "data" / "heldout_strings.jsonl"


@pytest.fixture(scope="module")
def suite() -> Suite:
    return load_suite(HELDOUT_2)


@pytest.fixture(scope="module")
def items(suite: Suite) -> list[StringItem]:
    out = [item for item in suite.items if isinstance(item, StringItem)]
    assert len(out) == len(suite.items), "every held-out item is a string function"
    return out


def test_loads_without_errors(suite: Suite) -> None:
    assert suite.errors == []
    assert len(suite.items) >= 30
    assert all(isinstance(item, StringItem) for item in suite.items)


def test_ids_unique_and_every_line_loaded(suite: Suite) -> None:
    raw_ids = [json.loads(line)["id"] for line in HELDOUT_2.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(raw_ids) == len(set(raw_ids))
    assert [item.id for item in suite.items] == raw_ids


def test_disjoint_from_the_first_held_out_set(suite: Suite) -> None:
    first = load_suite(FIRST)
    assert not {item.id for item in suite.items} & {item.id for item in first.items}
    first_code = {item.code for item in first.items if isinstance(item, StringItem)}
    assert all(item.code not in first_code for item in suite.items if isinstance(item, StringItem))


def test_items_carry_tests_family_and_description(items: list[StringItem]) -> None:
    for item in items:
        assert item.tests is not None and len(item.tests) == 10, item.id
        assert len(set(item.tests)) == 10, item.id
        assert item.metadata().get("family"), item.id
        assert item.description.strip(), item.id
        for test in item.unit_tests:
            assert 0 <= test.answer < 3


def test_every_function_is_total_and_deterministic_on_its_tests(items: list[StringItem]) -> None:
    for item in items:
        assert item.tests is not None
        inputs = [*item.tests, "", " ", "ß🙂é"]
        first = run_function(item.code, inputs)
        assert first.error is None, (item.id, first.error)
        assert len(first.outcomes) == len(inputs), item.id
        for outcome in first.outcomes:
            assert outcome.error is None, (item.id, outcome.input, outcome.error)
            assert isinstance(outcome.output, str), (item.id, outcome.input)
        second = run_function(item.code, inputs)
        assert [o.output for o in second.outcomes] == [o.output for o in first.outcomes], item.id
