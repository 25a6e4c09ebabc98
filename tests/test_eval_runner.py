"""The eval runner: oracle and random calibration on the sample suite, bad lines, stored scores,
and an end-to-end eval with the builtin agent."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from evals.judges import make_evaluator
from evals.report import write_report
from evals.runner import Runner
from evals.suite import load_suite
from store.settings import Settings
from tests.cli_helpers import cli_json

SAMPLE_SUITE = Path(__file__).resolve().parent / "data" / "sample.jsonl"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def test_oracle_scores_high_and_random_near_chance(settings: Settings, tmp_path: Path) -> None:
    judge = make_evaluator("embedding")
    oracle = Runner(str(SAMPLE_SUITE), "oracle", judge, settings=settings).run(progress=False)
    assert oracle.by_kind["numeric"].score == 1.0
    assert oracle.by_kind["string"].score == 1.0
    assert (oracle.by_kind["entity"].score or 0) >= 0.9
    rand = Runner(str(SAMPLE_SUITE), "random", judge, settings=settings, seed=1).run(progress=False)
    assert (rand.by_kind["numeric"].score or 0) <= 0.2
    assert (rand.by_kind["string"].score or 0) <= 0.5
    assert (rand.by_kind["entity"].score or 0) <= 0.6
    with sqlite3.connect(settings.home / "autointerp.db") as db:
        assert db.execute("select count(*) from ground_truth").fetchone()[0] == 12
        metrics = {row[0] for row in db.execute("select distinct metric from score")}
    assert {"score", "passed", "nmse", "unit_test_acc"} <= metrics
    report = write_report(oracle, tmp_path / "report")
    text = report.read_text()
    assert "| numeric |" in text and (tmp_path / "report" / "nmse.png").is_file()


def test_bad_lines_are_reported_and_the_run_goes_on(settings: Settings, tmp_path: Path) -> None:
    suite = tmp_path / "suite.jsonl"
    good = {"id": "ok", "kind": "numeric", "code": "def f(x):\n    return 2*x\n", "description": "doubles"}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"id": "nodesc", "kind": "numeric", "code": "def f(x):\n    return x\n"}),
        json.dumps({"id": "nof", "kind": "numeric", "code": "def g(x):\n    return x\n", "description": "g"}),
        json.dumps(
            {
                "id": "ghost",
                "kind": "model_unit",
                "model": str(tmp_path / "no-model"),
                "unit": "L0.mlp.1",
                "description": "nothing",
            }
        ),
    ]
    suite.write_text("\n".join(lines) + "\n")
    result = Runner(str(suite), "oracle", make_evaluator("embedding"), settings=settings).run(progress=False)
    by_id = {item.id: item for item in result.items}
    assert by_id["ok"].score == 1.0
    assert "line 2 is not JSON" in (by_id["line 2"].error or "")
    assert "'description'" in (by_id["nodesc"].error or "")
    assert "does not define f" in (by_id["nof"].error or "")
    # a model_unit whose model cannot load fails on its own line (delphi scoring needs the model)
    assert "no-model" in (by_id["ghost"].error or "") and by_id["ghost"].kind == "model_unit"
    ghost = next(i for i in load_suite(suite).items if i.id == "ghost")
    agent = Runner(str(suite), "builtin", make_evaluator("embedding"), settings=settings).run_item(ghost)
    assert agent.error and "no-model" in agent.error


def test_eval_cli_with_the_builtin_agent(home: Path, tmp_path: Path) -> None:
    suite = tmp_path / "few.jsonl"
    rows = [json.loads(line) for line in SAMPLE_SUITE.read_text().splitlines() if line.strip()]
    suite.write_text("".join(json.dumps(r) + "\n" for r in rows if r["id"] in ("num-parabola", "str-lower")))
    result = cli_json("eval", "--suite", str(suite), "--agent", "builtin", "--report", str(tmp_path / "rep"), home=home)
    assert set(result) >= {"suite", "agent", "evaluator", "by_kind", "items"}
    assert result["by_kind"]["numeric"]["score"] == 1.0 and result["by_kind"]["string"]["score"] == 1.0
    item = result["items"][0]
    assert {"id", "kind", "score", "passed", "label", "description", "code", "seconds", "tool_calls"} <= set(item)
    assert item["tool_calls"] > 0 and (tmp_path / "rep" / "report.md").is_file()


@pytest.mark.slow
def test_delphi_scores_for_a_unit_without_ground_truth(embedded_home: Path, tmp_path: Path) -> None:
    """A model_unit item with no positives/negatives gets delphi detection and fuzzing from the cache."""
    home = tmp_path / "home"
    home.mkdir()
    for name in ("models", "downloads"):
        if (embedded_home / name).is_dir():
            (home / name).symlink_to(embedded_home / name, target_is_directory=True)
    suite = tmp_path / "units.jsonl"
    suite.write_text(
        json.dumps(
            {
                "id": "smell",
                "kind": "model_unit",
                "model": "smollm2-135m",
                "unit": "L6.mlp.35",
                "description": "fires on 'smelled' in 'the street smelled of ...'",
            }
        )
        + "\n"
    )
    result = Runner(str(suite), "oracle", make_evaluator("embedding"), settings=Settings(home=home)).run(progress=False)
    item = result.items[0]
    assert item.error is None
    assert item.detection is not None and 0.0 <= item.detection <= 1.0
    assert item.fuzzing is not None and 0.0 <= item.fuzzing <= 1.0
    assert result.by_kind["model_unit"].fuzzing == item.fuzzing


def _generate_args(out: Path) -> tuple[str, ...]:
    """``suite generate`` of 6 numeric, 6 string and 3 entity functions with seed 11 into ``out``."""
    return ("suite", "generate", "--out", str(out), "--numeric", "6", "--string", "6", "--entity", "3", "--seed", "11")


def test_suite_generate_cli(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "gen.jsonl"
    made = cli_json(*_generate_args(out), home=home)
    assert made["counts"] == {"numeric": 6, "string": 6, "entity": 3}
    suite = load_suite(out)
    assert not suite.errors and [i.kind for i in suite.items].count("entity") == 3
    again = tmp_path / "again.jsonl"
    cli_json(*_generate_args(again), home=home)
    assert again.read_text() == out.read_text()  # reproducible from the seed
    oracle = Runner(str(out), "oracle", make_evaluator("embedding"), settings=Settings(home=home)).run(progress=False)
    assert oracle.by_kind["numeric"].score is not None and oracle.by_kind["numeric"].score >= 0.8
    assert oracle.by_kind["string"].score == 1.0
