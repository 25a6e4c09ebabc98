"""Audit and eval jobs: validated parameters, the Job row, the Celery message, and running one.

Label jobs belong to ``workers.jobs`` (items per unit, fenced claims); `submit_service_job` hands
them over unchanged. An audit or eval job is one task: `submit_service_job` stores the Job and sends
``autointerp.audit`` (queue ``gpu``) or ``autointerp.eval`` (queue ``gpu``) with its id; the worker
calls `run_service_job`, which first **claims** the job with a conditional UPDATE (queued → running,
or a running job whose holder is gone: started longer ago than the visibility timeout), so a
duplicate or re-sent message never runs it twice, and a job claimed ``max_attempts`` times fails
instead of looping.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlmodel import col

from store.db import open_store, session
from store.errors import InputError
from store.models import Job, JobCreate, JobKind, JobStatus, utcnow
from store.repo import create_job, get_job, set_job_status
from store.settings import Settings
from workers.audit import AuditRequest

#: Celery task names of the jobs defined here (registered by ``workers.watch.register_service_tasks``).
AUDIT_TASK = "autointerp.audit"
EVAL_TASK = "autointerp.eval"
WATCH_TASK = "autointerp.watch_checkpoints"
TASK_QUEUE = "gpu"


class EvalJobParams(BaseModel):
    """An eval job: a suite, an agent, an evaluator, an optional item limit and a budget per item."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    suite: str = Field(min_length=1)
    agent: str = Field("builtin", min_length=1)
    evaluator: Literal["embedding", "llm"] = "embedding"
    limit: int | None = Field(None, ge=1)
    budget: int = Field(24, ge=1, le=1000)


def _one_line(exc: ValidationError, what: str) -> InputError:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors(include_url=False)
    )
    return InputError(f"invalid {what} job parameters: {problems}")


def validate_service_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The canonical parameters of an audit or eval job; one-line InputError naming the bad fields."""
    try:
        if kind == JobKind.audit.value:
            return AuditRequest.model_validate(params).model_dump(mode="json")
        if kind == JobKind.eval.value:
            return EvalJobParams.model_validate(params).model_dump(mode="json")
    except ValidationError as exc:
        raise _one_line(exc, kind) from None
    raise InputError(f"unknown job kind {kind!r}; expected label, audit or eval")


def _engine(settings: Settings) -> Engine:
    if settings.db is None:
        settings.ensure_home()
    return open_store(settings.db_url())


def enqueue(settings: Settings, kind: str, job_id: int) -> None:
    """Send the task that runs audit/eval job ``job_id`` to the workers."""
    from workers.celery_app import create_app

    name = AUDIT_TASK if kind == JobKind.audit.value else EVAL_TASK
    create_app(settings).send_task(name, args=[job_id], queue=TASK_QUEUE)


def submit_service_job(settings: Settings, kind: str, params: dict[str, Any], executor: str = "celery") -> int:
    """Queue a label, audit or eval job and return its id (label jobs go to ``workers.jobs.submit_job``).

    ``executor="local"`` runs an audit or eval job here before returning. InputError for bad input.
    """
    if kind == JobKind.label.value:
        from workers.jobs import submit_job

        return submit_job(settings, kind, params, executor)
    if executor not in ("local", "celery"):
        raise InputError(f"unknown executor {executor!r}; expected local or celery")
    canonical = validate_service_params(kind, params)
    job = create_job(_engine(settings), JobCreate(kind=JobKind(kind), params=canonical))
    assert job.id is not None
    if executor == "celery":
        enqueue(settings, kind, job.id)
    else:
        run_service_job(settings, job.id)
    return job.id


def claim_job(engine: Engine, job_id: int, *, stale_after: float, max_attempts: int) -> bool:
    """Take job ``job_id`` for this worker: True when claimed (now running, attempts + 1).

    Claimable: a queued job, or a running one started more than ``stale_after`` seconds ago (its
    worker died). A job already tried ``max_attempts`` times is failed instead (False).
    """
    row = get_job(engine, job_id)
    if row is None or row.status in (JobStatus.succeeded, JobStatus.failed):
        return False
    now = utcnow()
    if row.status is JobStatus.running:
        started = row.started_at or row.created_at
        if now - started < timedelta(seconds=stale_after):
            return False
    if row.attempts >= max_attempts:
        set_job_status(engine, job_id, JobStatus.failed, error=f"gave up after {row.attempts} attempts")
        return False
    fence = [col(Job.id) == job_id, col(Job.status) == row.status, col(Job.attempts) == row.attempts]
    with session(engine, write=True) as db:
        changed = db.exec(
            sa.update(Job)
            .where(*fence)
            .values(status=JobStatus.running, attempts=row.attempts + 1, started_at=now, finished_at=None, error=None)
        ).rowcount
    return changed == 1


def run_service_job(settings: Settings, job_id: int) -> str:
    """Claim and run audit or eval job ``job_id``; returns what happened (``ran`` or ``skipped``).

    The job row records success or the one-line error; the exception is not re-raised (a failed
    audit is a result, not a reason for Celery to redeliver).
    """
    engine = _engine(settings)
    if not claim_job(engine, job_id, stale_after=settings.visibility_timeout, max_attempts=settings.max_attempts):
        return "skipped"
    row = get_job(engine, job_id)
    assert row is not None
    try:
        if row.kind is JobKind.audit:
            from workers.audit import execute_audit_job

            execute_audit_job(settings, engine, job_id, row.params)
        elif row.kind is JobKind.eval:
            run_eval(settings, engine, job_id, row.params)
        else:
            raise InputError(f"job {job_id} is a {row.kind.value} job, not an audit or eval job")
    except Exception as exc:
        set_job_status(engine, job_id, JobStatus.failed, error=f"{type(exc).__name__}: {exc}".splitlines()[0])
        return "ran"
    set_job_status(engine, job_id, JobStatus.succeeded)
    return "ran"


def eval_folder(settings: Settings, job_id: int) -> Path:
    """Where an eval job writes its report: ``<home>/evals/job-<id>/``."""
    return settings.home.expanduser() / "evals" / f"job-{job_id}"


def run_eval(settings: Settings, engine: Engine, job_id: int, params: dict[str, Any]) -> None:
    """Run an eval job's suite with its agent and evaluator; write the report beside the store."""
    from agent.graph import Budget
    from evals.evaluators import make_evaluator
    from evals.report import write_report
    from evals.runner import Runner
    from store.repo import update_job_progress

    parsed = EvalJobParams.model_validate(params)
    runner = Runner(
        parsed.suite,
        parsed.agent,
        make_evaluator(parsed.evaluator),
        settings=settings,
        budget=Budget(tool_calls=parsed.budget),
    )
    result = runner.run(limit=parsed.limit, progress=False)
    folder = eval_folder(settings, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(result.model_dump_json(indent=2))
    write_report(result, folder)
    update_job_progress(engine, job_id, done=1, total=1)
