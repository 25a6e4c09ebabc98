"""CeleryExecutor and label jobs against a real Celery worker on real Redis and PostgreSQL.

The worker runs in this process (``celery.contrib.testing.worker.start_worker``; messages really go
through Redis, serialised as JSON and routed by queue — no eager mode). Every test gets its own Redis
key prefix, so it never sees another run's messages.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from sqlmodel import select

from store.db import open_store, session
from store.models import Explanation, Investigation, JobItem, JobStatus
from store.settings import Settings
from tests.cli_helpers import call_cli
from workers.celery_app import create_app
from workers.executor import CeleryExecutor
from workers.tasks import WorkerState, register_tasks

pytestmark = pytest.mark.services

REDIS_URL = "redis://127.0.0.1:6379/0"


def _env(home: Path, db_url: str, prefix: str) -> dict[str, str]:
    return {
        "AUTOINTERP_HOME": str(home),
        "AUTOINTERP_DB": db_url,
        "AUTOINTERP_BROKER_URL": REDIS_URL,
        "AUTOINTERP_BROKER_PREFIX": prefix,
        "AUTOINTERP_TASK_TIME_LIMIT": "60",
        "AUTOINTERP_VISIBILITY_TIMEOUT": "90",
    }


@pytest.fixture
def service(home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings (environment too) for one test: its own home, PostgreSQL schema and Redis key prefix."""
    for key, value in _env(home, pg_url, f"t{uuid.uuid4().hex[:12]}:").items():
        monkeypatch.setenv(key, value)
    return Settings()


@contextmanager
def worker(settings: Settings, queues: list[str]) -> Iterator[Any]:
    """A real worker (solo pool) in a thread, serving ``queues``."""
    app = create_app(settings)
    register_tasks(app, WorkerState(settings, queues))
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, queues=queues, shutdown_timeout=30):
        yield app


def test_celery_executor_submit_batch_errors_cancel(service: Settings, tiny_llama_dir: Path) -> None:
    from tools.executor import ToolCall

    model = str(tiny_llama_dir)
    with worker(service, ["gpu", "cpu"]) as app:
        executor = CeleryExecutor(app=app, settings=service, timeout=60)
        out = executor.submit("activations", {"model": model, "subject": "L1.mlp.3", "texts": ["The cat sat."]})
        assert out.model_dump()["results"][0]["tokens"]

        calls = [
            ToolCall(tool="activations", args={"model": model, "subject": "L1.mlp.3", "texts": ["A dog."]}),
            ToolCall(tool="unit_logits", args={"model": model, "subject": "L1.mlp.3"}),
            ToolCall(tool="activations", args={"model": model, "subject": "L1.mlp.999", "texts": ["x"]}),
            ToolCall(tool="no_such_tool", args={}),
            ToolCall(tool="activations", args={"model": model}),
        ]
        sent: list[tuple[str, int]] = []
        original = executor._send

        def counting_send(queue: str, wires: list[dict[str, Any]]) -> Any:
            sent.append((queue, len(wires)))
            return original(queue, wires)

        executor._send = counting_send  # type: ignore[method-assign]
        results = executor.submit_batch(calls)
        assert [r.call_id for r in results] == [c.id for c in calls]
        assert results[0].ok and results[1].ok
        assert sent == [("gpu", 3)]  # one gpu task carries the three valid model calls
        assert not results[2].ok and "0..95" in (results[2].error or "")  # a tool error, not a crash
        assert not results[3].ok and "unknown tool 'no_such_tool'" in (results[3].error or "")
        assert not results[4].ok and results[4].field == "subject"

        from tools.registry import ToolError

        with pytest.raises(ToolError, match=r"0\.\.95"):
            executor.submit("activations", {"model": model, "subject": "L1.mlp.999", "texts": ["x"]})
        with pytest.raises(ToolError, match="unknown tool"):
            executor.submit("nope", {})

        done = executor.start(ToolCall(tool="unit_logits", args={"model": model, "subject": "L1.mlp.4"}))
        assert done.result(timeout=60).ok
        assert executor.cancel(done) is False  # finished calls cannot be cancelled

    # No worker serves the queue now: a started call stays pending and can be cancelled.
    pending = executor.start(ToolCall(tool="unit_logits", args={"model": model, "subject": "L1.mlp.5"}))
    assert executor.cancel(pending) is True
    cancelled = pending.result(timeout=5)
    assert not cancelled.ok and cancelled.error == "cancelled"
    executor.close()


def _counts(db_url: str, job_id: int) -> tuple[dict[str, int], int, int]:
    engine = open_store(db_url)
    with session(engine) as db:
        items = db.exec(select(JobItem).where(JobItem.job_id == job_id)).all()
        explanations = db.exec(select(Explanation).join(Investigation).where(Investigation.job_id == job_id)).all()
    keys = [i.key for i in items]
    labeled = len({e.subject_id for e in explanations})
    return {k: keys.count(k) for k in keys}, len(explanations), labeled


def test_label_job_through_celery_then_rerun_skips(service: Settings, tiny_llama_dir: Path) -> None:
    model = str(tiny_llama_dir)
    args = ["label", "--model", model, "--layer", "1", "--units", "0:4", "--budget", "6", "--max-tokens", "2000"]
    with worker(service, ["gpu", "cpu"]):
        proc = call_cli(*args, "--executor", "celery", "--timeout", "120", "--json", "-")
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["job"]["status"] == "succeeded"
        assert out["job"]["progress"] == {"done": 4, "total": 4}
        assert [u["key"] for u in out["units"]] == [f"L1.mlp.{i}" for i in range(4)]
        assert all(u["status"] == "succeeded" and u["attempts"] == 1 and u["label"] for u in out["units"])
        job_id = out["job"]["id"]
        per_key, n_explanations, labeled = _counts(service.db_url(), job_id)
        assert per_key == {f"L1.mlp.{i}": 1 for i in range(4)} and n_explanations == 4 and labeled == 4

        again = call_cli(*args, "--executor", "celery", "--timeout", "60", "--json", "-")
        assert again.returncode == 0, again.stderr
        rerun = json.loads(again.stdout)
        assert rerun["job"]["id"] == job_id  # same params, same job
        assert [u["investigation_id"] for u in rerun["units"]] == [u["investigation_id"] for u in out["units"]]
        assert _counts(service.db_url(), job_id)[1] == 4  # nothing labeled twice

    listed = call_cli("jobs", "list", "--json", "-")
    assert listed.returncode == 0, listed.stderr
    jobs = json.loads(listed.stdout)["jobs"]
    assert jobs[0]["id"] == job_id and jobs[0]["status"] == "succeeded" and jobs[0]["params"]["layer"] == 1
    shown = call_cli("jobs", "show", str(job_id))
    assert shown.returncode == 0 and "succeeded" in shown.stdout and "L1.mlp.3" in shown.stdout
    missing = call_cli("jobs", "show", "999999")
    assert missing.returncode == 2 and "no job with id 999999" in missing.stderr
    bad = call_cli("label", "--model", model, "--layer", "1", "--units", "5:2")
    assert bad.returncode == 2 and "STOP (2) must be greater than START (5)" in bad.stderr


def test_poisoned_item_and_failing_unit(
    service: Settings, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item claimed max_attempts times already is failed (poisoned) at the next delivery; a unit
    whose investigation keeps failing is retried, then failed; the rest of the job still succeeds."""
    import workers.label
    from workers.jobs import LabelJobParams, find_or_create_label_job, job_items, job_view
    from workers.label import enqueue_label_job

    engine = open_store(service.db_url())
    params = LabelJobParams(model=str(tiny_llama_dir), layer=1, start=0, stop=3, budget=4, max_tokens=2000)
    job_id, _ = find_or_create_label_job(engine, params)
    with session(engine, write=True) as db:  # L1.mlp.0: three earlier deliveries died mid-task
        item = db.exec(select(JobItem).where(JobItem.job_id == job_id, JobItem.key == "L1.mlp.0")).one()
        item.status, item.attempts, item.lease_owner = JobStatus.running, 3, "dead"
        item.leased_at = datetime(2000, 1, 1, tzinfo=UTC)  # a lease long gone stale
        db.add(item)

    original = workers.label.label_item

    def flaky(session_: Any, params_: Any, claim: Any) -> Any:
        if claim.row.key == "L1.mlp.1":
            raise RuntimeError("simulated agent crash")
        return original(session_, params_, claim)

    monkeypatch.setattr(workers.label, "label_item", flaky)
    monkeypatch.setattr("workers.tasks.RETRY_BASE_S", 0.05)
    with worker(service, ["gpu", "cpu"]):
        enqueue_label_job(service, job_id)
        import time

        deadline = time.monotonic() + 90
        while job_view(engine, job_id).status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.3)
    view = job_view(engine, job_id)
    items = {i.key: i for i in job_items(engine, job_id)}
    assert view.status == "failed" and view.progress.done == 3
    assert items["L1.mlp.0"].status == "failed" and "poisoned" in (items["L1.mlp.0"].error or "")
    assert items["L1.mlp.0"].attempts == 3
    assert items["L1.mlp.1"].status == "failed" and items["L1.mlp.1"].attempts == service.max_attempts
    assert "simulated agent crash" in (items["L1.mlp.1"].error or "")
    assert items["L1.mlp.2"].status == "succeeded"
    assert "2 of 3 units failed" in (view.error or "")
