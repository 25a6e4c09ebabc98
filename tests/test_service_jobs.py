"""Audit, eval and investigate jobs, the checkpoint watcher and orphan investigations, each run by a
real Celery worker (``celery.contrib.testing.worker.start_worker``: messages go through Redis as
JSON and are routed by queue; no eager mode) on real PostgreSQL, with the tiny Llama.

Every test has its own Redis key prefix and PostgreSQL schema.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from fastapi.testclient import TestClient
from sqlmodel import select

from autointerp.api import create_app
from store.db import open_store, session
from store.models import AuditRun, Explanation, Investigation, Job, JobItem, JobKind, JobStatus
from store.settings import Settings
from workers.celery_app import TaskNames
from workers.celery_app import create_app as create_celery
from workers.tasks import WorkerState, register_tasks
from workers.watch import WATCH_TASK, register_service_tasks
from workers.watch_settings import WatchSettings

pytestmark = pytest.mark.services

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def service(home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings (environment too) for one test: its home, PostgreSQL schema and Redis key prefix;
    the prefix's Redis keys are deleted afterwards."""
    import redis

    prefix = f"t{uuid.uuid4().hex[:12]}:"
    env = {
        "AUTOINTERP_HOME": str(home),
        "AUTOINTERP_DB": pg_url,
        "AUTOINTERP_BROKER_URL": REDIS_URL,
        "AUTOINTERP_BROKER_PREFIX": prefix,
        "AUTOINTERP_TASK_TIME_LIMIT": "120",
        "AUTOINTERP_VISIBILITY_TIMEOUT": "150",
        "TRANSFORMERS_VERBOSITY": "error",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield Settings()
    client = redis.Redis.from_url(REDIS_URL)
    for name in client.scan_iter(match=f"{prefix}*"):
        client.delete(name)
    client.close()


@contextmanager
def worker(settings: Settings, queues: list[str], watch: WatchSettings | None = None) -> Iterator[Any]:
    """A real worker (solo pool, in a thread) serving ``queues`` with every autointerp task, as
    ``autointerp worker`` registers them."""
    app = create_celery(settings)
    register_tasks(app, WorkerState(settings, queues))
    register_service_tasks(app, settings, watch or WatchSettings(dir=None))
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, queues=queues, shutdown_timeout=30):
        yield app


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until ``predicate()`` is truthy; return it, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def finished_job(client: TestClient, job_id: int, timeout: float = 90) -> dict[str, Any]:
    """``GET /jobs/{id}`` once the job has succeeded or failed."""

    def done() -> dict[str, Any] | None:
        view: dict[str, Any] = client.get(f"/jobs/{job_id}", headers=AUTH).json()
        return view if view["status"] in ("succeeded", "failed") else None

    result: dict[str, Any] = wait_for(done, timeout, f"job {job_id}")
    return result


def make_candidate(folder: Path, baseline: Path) -> Path:
    """A copy of ``baseline`` with neuron L1.mlp.3 rewired (the audit must flag it)."""
    import torch
    from transformers import AutoModelForCausalLM

    shutil.copytree(baseline, folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        torch.manual_seed(1)
        model.model.layers[1].mlp.gate_proj.weight[3].normal_(std=3.0)
        model.model.layers[1].mlp.up_proj.weight[3].mul_(-1.0)
    model.save_pretrained(folder)
    return folder


@contextmanager
def api(settings: Settings, executor: str = "local") -> Iterator[TestClient]:
    with TestClient(create_app(settings, api_key=KEY, investigation_executor=executor)) as client:
        yield client


# ------------------------------------------------------------------------------ audit and eval jobs


def test_audit_job_posted_over_http_runs_on_a_worker(
    service: Settings, tiny_llama_dir: Path, tmp_path: Path, model_root: Path
) -> None:
    from workers.audit import audit_folder

    candidate = make_candidate(model_root / f"step-2-{tmp_path.name}", tiny_llama_dir)
    body = {
        "kind": "audit",
        "baseline": str(tiny_llama_dir),
        "candidate": str(candidate),
        "units": ["L1.mlp.3", "L1.mlp.4"],
        "explain": False,
    }
    with worker(service, ["gpu"]), api(service) as client:
        response = client.post("/jobs", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        view = finished_job(client, job_id)
    assert view["status"] == "succeeded", view
    assert view["kind"] == "audit" and view["error"] is None
    folder = audit_folder(service, job_id)
    assert {p.name for p in folder.iterdir()} >= {"report.md", "report.json", "shift.png"}
    report = (folder / "report.json").read_text()
    assert '"changed": [\n    "L1.mlp.3"\n  ]' in report or '"changed":["L1.mlp.3"]' in report.replace(" ", "")


def test_eval_job_on_a_generated_suite_runs_on_a_worker(service: Settings, tmp_path: Path) -> None:
    from evals.generators.numeric import generate_numeric
    from evals.suite import write_suite
    from workers.jobs import job_view
    from workers.service_jobs import eval_folder, submit_service_job

    suite = write_suite(generate_numeric(2, seed=3), service.home / "suites" / "numeric.jsonl")  # a data root
    with worker(service, ["gpu"]):
        job_id = submit_service_job(service, "eval", {"suite": str(suite), "agent": "builtin", "budget": 8})
        engine = open_store(service.db_url())
        wait_for(lambda: job_view(engine, job_id).status in ("succeeded", "failed"), 90, f"eval job {job_id}")
    view = job_view(engine, job_id)
    assert view.status == "succeeded", view
    assert view.progress.done == view.progress.total == 1
    folder = eval_folder(service, job_id)
    assert (folder / "result.json").is_file() and (folder / "report.md").is_file()
    assert '"numeric"' in (folder / "result.json").read_text()


# -------------------------------------------------------------------------------------- watcher


def test_watcher_task_queues_one_audit_per_new_checkpoint_even_when_run_twice(
    service: Settings, tiny_llama_dir: Path, tmp_path: Path
) -> None:
    """The beat task, run by a worker: nothing to do, then a checkpoint appears (renamed into place)
    and two scans see it (a duplicate beat event): one audit job, one audit_run row, one message."""
    import redis

    watched = tmp_path / "watched"
    watched.mkdir()
    watch = WatchSettings(dir=watched, model="tiny", baseline=str(tiny_llama_dir), units="L1.mlp.3", interval=60)
    # cpu only: the audit the watcher queues stays in the gpu queue, where it can be counted
    with worker(service, ["cpu"], watch) as app:
        assert app.conf.beat_schedule["watch-checkpoints"]["task"] == WATCH_TASK
        assert app.send_task(WATCH_TASK).get(timeout=30) == []
        make_candidate(watched / ".step-2.tmp", tiny_llama_dir).rename(watched / "step-2")
        first, second = app.send_task(WATCH_TASK), app.send_task(WATCH_TASK)
        created = first.get(timeout=30) + second.get(timeout=30)
        assert app.send_task(WATCH_TASK).get(timeout=30) == []
    assert len(created) == 1
    engine = open_store(service.db_url())
    with session(engine) as db:
        jobs = db.exec(select(Job).where(Job.kind == JobKind.audit)).all()
        runs = db.exec(select(AuditRun)).all()
    assert [j.id for j in jobs] == created and jobs[0].status is JobStatus.queued
    assert jobs[0].params["candidate"] == str((watched / "step-2").resolve())
    assert jobs[0].params["units"] == ["L1.mlp.3"]
    assert [(r.checkpoint, r.job_id) for r in runs] == [(str((watched / "step-2").resolve()), created[0])]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.llen(f"{service.broker_prefix}gpu") == 1  # exactly one audit message sent
    finally:
        client.close()


# ----------------------------------------------------------------------------- orphan investigations


def test_a_retry_adopts_the_investigation_a_crashed_try_left_unrecorded(
    service: Settings, tiny_llama_dir: Path
) -> None:
    """A worker claimed a unit, created its investigation and died before recording it on the item.
    The redelivered task (same task id) adopts that investigation: it ends with the explanation, and
    the unit has exactly one investigation."""
    from agent.graph import Budget
    from agent.runner import Session
    from tools.context import ToolContext
    from workers.claims import claim_item
    from workers.jobs import LabelJobParams, find_or_create_label_job, job_view
    from workers.label import prepare_label_job

    engine = open_store(service.db_url())
    params = LabelJobParams(model=str(tiny_llama_dir), layer=1, start=5, stop=6, budget=5, max_tokens=2000)
    job_id, _ = find_or_create_label_job(engine, params)
    assert prepare_label_job(ToolContext(settings=service), engine, job_id)
    with session(engine) as db:
        item_id = db.exec(select(JobItem.id).where(JobItem.job_id == job_id)).one()
    assert item_id is not None
    # the crashed try: claim, create the investigation, then nothing more
    owner = uuid.uuid4().hex
    outcome, claim = claim_item(engine, item_id, owner=owner, max_attempts=3, stale_after=150)
    assert outcome == "claimed" and claim is not None
    orphan, _ = Session(service).create("L1.mlp.5", str(tiny_llama_dir), "builtin", Budget(tool_calls=5), job_id=job_id)

    with worker(service, ["gpu", "cpu"]) as app:
        app.send_task(TaskNames.label_unit, args=[job_id, item_id], task_id=owner)  # Celery's redelivery
        wait_for(lambda: job_view(engine, job_id).status in ("succeeded", "failed"), 90, f"label job {job_id}")
    assert job_view(engine, job_id).status == "succeeded"
    with session(engine) as db:
        item = db.get(JobItem, item_id)
        investigations = db.exec(select(Investigation).where(Investigation.job_id == job_id)).all()
        explanations = db.exec(select(Explanation).join(Investigation).where(Investigation.job_id == job_id)).all()
    assert item is not None and item.status is JobStatus.succeeded and item.attempts == 2
    assert item.investigation_id == orphan and item.result and item.result["investigation_id"] == orphan
    assert [i.id for i in investigations] == [orphan] and investigations[0].status.value == "succeeded"
    assert [e.investigation_id for e in explanations] == [orphan]


# ------------------------------------------------------------------------- investigations on workers


def test_post_investigation_with_the_celery_executor_runs_on_a_worker(
    service: Settings, tiny_llama_dir: Path, tmp_path: Path
) -> None:
    import json

    suite = service.home / "suites" / "suite.jsonl"  # the API and the workers read suites under their data roots
    suite.parent.mkdir(parents=True, exist_ok=True)
    line = {"id": "lin", "kind": "numeric", "code": "def f(x):\n    return 2*x + 1\n", "description": "2x+1"}
    suite.write_text(json.dumps(line) + "\n")
    with worker(service, ["gpu", "cpu"]), api(service, executor="celery") as client:
        assert (
            client.post("/investigations", json={"subject": "L1.mlp", "agent": "builtin"}, headers=AUTH).status_code
            == 400
        )
        assert (
            client.post("/investigations", json={"subject": "x", "agent": "gemini:pro"}, headers=AUTH).status_code
            == 400
        )
        response = client.post(
            "/investigations", json={"subject": f"{suite}#lin", "budget": {"tool_calls": 10}}, headers=AUTH
        )
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["executor"] == "celery" and accepted["status"] == "queued" and accepted["id"] is None
        view = finished_job(client, accepted["job"])
        assert view["status"] == "succeeded" and view["kind"] == "investigate", view
        record = client.get(f"/investigations/{view['investigation']}", headers=AUTH).json()
        assert record["investigation"]["status"] == "succeeded" and record["investigation"]["job_id"] == accepted["job"]
        assert record["experiments"][0]["tool"] == "call_function" and record["explanation"]["label"]

        # a unit out of range is found by the worker (it loads the model): the job fails with the reason
        far = {"subject": "L1.mlp.999", "model": str(tiny_llama_dir), "executor": "celery"}
        failed = finished_job(client, client.post("/investigations", json=far, headers=AUTH).json()["job"])
        assert failed["status"] == "failed" and "0..95" in failed["error"] and failed["investigation"] is None

        # the local executor still answers with the investigation itself
        local = client.post("/investigations", json={"subject": f"{suite}#lin", "executor": "local"}, headers=AUTH)
        assert local.status_code == 202 and local.json()["executor"] == "local" and local.json()["id"] is not None


# ------------------------------------------------------------------------------------ job leases


def test_job_lease_redelivery_takeover_poisoning_and_sweep(sqlite_url: str, home: Path) -> None:
    """The lease rules of an audit/eval/investigate job, on the store alone: a duplicate with another
    task id is skipped while the holder lives; the same task id (a redelivery) or a stale lease
    re-claims, fencing out the older attempt; past max_attempts the job is failed (poisoned) with a
    clear error; the sweep re-sends a job whose lease went stale, once per period."""
    from store.models import JobCreate
    from store.repo import create_job
    from workers.claims import claim_job, finish_job
    from workers.jobs import job_view
    from workers.service_jobs import run_service_job, sweep_service_jobs

    engine = open_store(sqlite_url)
    params = {"baseline": "a", "candidate": "b", "units": ["L1.mlp.3"]}
    job_id = create_job(engine, JobCreate(kind=JobKind.audit, params=params)).id
    assert job_id is not None
    limits: dict[str, Any] = {"stale_after": 100.0, "max_attempts": 2}

    outcome, first = claim_job(engine, job_id, owner="task-a", **limits)
    assert outcome == "claimed" and first is not None and first.attempt == 1 and first.row.params == params
    with session(engine) as db:
        row = db.get(Job, job_id)
        assert row is not None and row.lease_owner == "task-a" and row.leased_at is not None
        assert row.params == params  # the lease lives in its own columns
    assert job_view(engine, job_id).params == params
    assert claim_job(engine, job_id, owner="task-b", **limits) == ("skipped", None)  # holder alive

    outcome, again = claim_job(engine, job_id, owner="task-a", **limits)  # Celery's redelivery
    assert outcome == "claimed" and again is not None and again.attempt == 2
    assert not finish_job(engine, first)  # the older attempt is fenced out
    assert job_view(engine, job_id).status == "running"

    sent: list[tuple[str, int]] = []
    assert sweep_service_jobs(engine, stale_after=100.0, send=lambda k, i: sent.append((k, i))) == {
        "queued": 0,
        "running": 0,
    }
    assert sweep_service_jobs(engine, stale_after=0.0, send=lambda k, i: sent.append((k, i)))["running"] == 1
    assert sweep_service_jobs(engine, stale_after=0.5, send=lambda k, i: sent.append((k, i)))["running"] == 0
    assert sent == [("audit", job_id)]

    # the holder died again: the re-sent message finds a stale lease and no attempts left
    with session(engine, write=True) as db:  # its lease is now older than the visibility timeout
        row = db.get(Job, job_id)
        assert row is not None and row.leased_at is not None
        row.leased_at -= timedelta(seconds=10)
        db.add(row)
    settings = Settings(db=sqlite_url, max_attempts=2, visibility_timeout=5, task_time_limit=1)
    assert run_service_job(settings, job_id, owner="task-c") == "poisoned"
    view = job_view(engine, job_id)
    assert view.status == "failed" and view.attempts == 2 and view.params == params
    assert view.error is not None and view.error.startswith("poisoned: gave up on audit job")
    assert "after 2 attempts" in view.error
    assert not finish_job(engine, again)  # a late success of the dead attempt changes nothing
    assert run_service_job(settings, job_id, owner="task-a") == "skipped"
    assert job_view(engine, job_id).status == "failed"
    with session(engine) as db:
        row = db.get(Job, job_id)
        assert row is not None and row.lease_owner is None and row.leased_at is None  # no lease once over
