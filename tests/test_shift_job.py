"""The shift job end to end on the tiny model: ``autointerp shift`` here and on a real Celery worker,
``POST /jobs`` kind shift, the report on disk, every annotation stored under the job, bad input refused."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from store.db import open_store
from store.settings import Settings
from store.shift import annotations_for
from tests.cli_helpers import assert_clean_error, call_cli, cli_json
from tests.test_sae_latents import register_for_celery, write_saelens

SMALL = ["--n-train", "64", "--n-test", "32", "--n", "2,5,10", "--judged-top", "5", "--cache-tokens", "3000"]


@pytest.fixture
def registered(home: Path, tiny_llama_dir: Path, tmp_path: Path) -> str:
    """The tiny model with a random ReLU SAE registered on L1.resid_post as ``res1``; the model path."""
    folder = tmp_path / "sae"
    write_saelens(folder)
    model = str(tiny_llama_dir)
    cli_json("sae", "add", "--model", model, "--path", str(folder), "--name", "res1")
    return model


def _check_report(report: dict[str, Any], home: Path, model: str) -> None:
    scores = report["scores"]
    assert scores["dataset"] == "bios" and scores["pair"] == ["professor", "nurse"]
    assert [s["selection"] for s in scores["selections"]] == ["attribution", "judged", "oracle", "random"]
    by_name = {s["selection"]: s for s in scores["selections"]}
    assert set(by_name["attribution"]["scr"]["scores"]) == {"2", "5", "10"}
    assert set(by_name["judged"]["scr"]["scores"]) == {"2", "5"}  # annotated latents only: N <= judged_top
    for result in scores["selections"]:
        for value in [*result["scr"]["scores"].values(), *result["tpp"]["scores"].values()]:
            assert math.isfinite(value)
        for direction in result["scr"]["directions"]:
            attribution_sets = [p["latents"] for p in direction["points"]]
            assert all(len(latents) <= n for latents, n in zip(attribution_sets, (2, 5, 10), strict=False))
        assert len(result["tpp"]["classes"]) == 5
    # The attribution selection ablates exactly N latents; judged ones are a subset of them.
    attribution = by_name["attribution"]["scr"]["directions"][0]["points"]
    judged = by_name["judged"]["scr"]["directions"][0]["points"]
    assert [len(p["latents"]) for p in attribution] == [2, 5, 10]
    for j, a in zip(judged, attribution, strict=False):
        assert set(j["latents"]) <= set(a["latents"])
    concepts = ["gender", "professor", "nurse", "accountant", "architect", "attorney", "dentist", "filmmaker"]
    assert report["annotations"] and all(set(a["scores"]) == set(concepts) for a in report["annotations"])
    stored = annotations_for(open_store(Settings(home=home).db_url()), model, job_id=report["job_id"])
    assert len(stored) == len(report["annotations"]) * len(concepts) == len(report["annotation_ids"])
    assert {row.latent_index for row in stored} == {a["latent"] for a in report["annotations"]}
    assert [a["concept"] for a in scores["agreement"]][:2] == ["gender", "profession"]
    folder = home / "shift" / f"job-{report['job_id']}"
    markdown = (folder / "report.md").read_text()
    assert "## Summary" in markdown and "## The judge against the oracle" in markdown and "curves.png" in markdown
    assert (folder / "curves.png").stat().st_size > 5000
    assert json.loads((folder / "report.json").read_text())["job_id"] == report["job_id"]


def test_shift_command_runs_the_job_here(home: Path, registered: str) -> None:
    report = cli_json("shift", "--model", registered, "--sae", "res1", *SMALL)
    _check_report(report, home, registered)
    jobs = cli_json("jobs", "show", str(report["job_id"]))
    assert jobs["job"]["kind"] == "shift" and jobs["job"]["status"] == "succeeded"
    assert jobs["job"]["progress"] == {"done": 3, "total": 3}
    # The pooled activations were captured once: a second run reuses them (and stores its own annotations).
    again = cli_json("shift", "--model", registered, "--sae", "res1", *SMALL)
    assert again["scores"]["seconds"]["capture"] < report["scores"]["seconds"]["capture"]
    assert again["scores"]["selections"][0] == report["scores"]["selections"][0]


def test_bad_shift_input_is_one_clear_line(home: Path, registered: str) -> None:
    base = ["shift", "--model", registered, "--sae", "res1"]
    assert_clean_error(call_cli(*base, "--pair", "professor,plumber", *SMALL), "plumber", "nurse")
    assert_clean_error(call_cli("shift", "--model", registered, "--sae", "nope", *SMALL), "no SAE named 'nope'")
    assert_clean_error(call_cli(*base, "--n-train", "30"), "n_train", "multiple of 4")
    assert_clean_error(call_cli(*base, "--dataset", "tweets"), "unknown dataset 'tweets'", "bios")
    assert_clean_error(call_cli(*base, "--judge", "openai:gpt-4o", *SMALL), "OPENAI_API_KEY")


def test_api_queues_shift_jobs(
    home: Path, sqlite_url: str, registered: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from autointerp.api import create_app
    from workers.service_jobs import SHIFT_TASK, task_of

    key = "test-key-0123456789"
    auth = {"Authorization": f"Bearer {key}"}
    settings = Settings(home=home, db=sqlite_url)
    folder = tmp_path / "sae2"
    write_saelens(folder)
    cli_json("sae", "add", "--model", registered, "--path", str(folder), "--name", "res1", "--db", sqlite_url)
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr("workers.service_jobs.enqueue", lambda s, kind, job_id: sent.append((kind, job_id)))
    assert task_of("shift") == (SHIFT_TASK, "gpu")
    with TestClient(create_app(settings, api_key=key)) as client:
        job = {"kind": "shift", "model": registered, "sae": "res1", "pair": ["architect", "journalist"]}
        response = client.post("/jobs", json=job, headers=auth)
        assert response.status_code == 202, response.text
        assert sent == [("shift", response.json()["id"])]
        shown = client.get(f"/jobs/{sent[0][1]}", headers=auth).json()
        assert shown["kind"] == "shift" and shown["status"] == "queued"
        for bad, fragment in (
            ({"dataset": "tweets"}, "dataset"),
            ({"n_train": 4001}, "multiple of 4"),
            ({"n_train": 10**9}, "n_train"),
            ({"sae": "../etc"}, "sae"),
            ({"judged_top": 0}, "judged_top"),
        ):
            response = client.post("/jobs", json={**job, **bad}, headers=auth)
            assert response.status_code in (400, 422) and fragment in response.text, response.text
        assert client.post("/jobs", json=job).status_code == 401


@pytest.mark.services
def test_shift_job_on_a_celery_worker(
    home: Path, pg_url: str, tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from tests.test_service_jobs import worker
    from workers.service_jobs import submit_service_job

    model = register_for_celery(home, pg_url, tiny_llama_dir, tmp_path, monkeypatch)
    params = {"model": model, "sae": "res1", "n_train": 64, "n_test": 32, "n_values": [2, 5], "judged_top": 3}
    params |= {"tpp": False, "max_tokens": 3000}
    settings = Settings()
    with worker(settings, ["gpu"]):
        job_id = submit_service_job(settings, "shift", params, "celery")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            shown = cli_json("jobs", "show", str(job_id))
            if shown["job"]["status"] in ("succeeded", "failed"):
                break
            time.sleep(1)
    assert shown["job"]["status"] == "succeeded", shown["job"]["error"]
    report = json.loads((Path(settings.home) / "shift" / f"job-{job_id}" / "report.json").read_text())
    assert report["job_id"] == job_id and report["scores"]["selections"][0]["tpp"] is None
    stored = annotations_for(open_store(settings.db_url()), model, job_id=job_id)
    assert stored and all(row.job_id == job_id for row in stored)
