"""Audit, eval and investigate jobs: validated parameters, the Job row, the Celery message, running one.

Label jobs belong to ``workers.jobs`` (items per unit, fenced claims); `submit_service_job` hands
them over unchanged. An audit or eval job is one task: `submit_service_job` stores the Job and sends
``autointerp.audit`` (queue ``gpu``) or ``autointerp.eval`` (queue ``gpu``) with its id; the worker
calls `run_service_job`, which first **claims** the job (`claim_job`).

**Leases.** Every audit, eval and investigate job is claimed the way a label item is
(``workers.jobs``): a conditional UPDATE fenced by the ``(status, attempts)`` it read moves the job
to ``running``, bumps ``Job.attempts`` and records a lease ``{"owner": <task id>, "claimed_at": <epoch
s>}`` under the reserved key ``_lease`` of ``Job.params`` (hidden from job views; a queued job's
lease is ``{"enqueued_at": ...}``). A running job is claimed again only by the *same* owner (Celery
redelivers under the same task id after a ``kill -9`` or a database retry) or once its lease is
older than the visibility timeout (its holder is gone); a duplicate message with another task id
while the holder lives is skipped. A job already claimed ``max_attempts`` times is failed
(poisoned) with a one-line reason instead of retried. The final status is written only by the
attempt that holds the claim. Beat's sweep (`sweep_service_jobs`) re-sends queued jobs whose
message was lost and running jobs whose lease went stale, so no job stays ``running`` forever.

An **investigate** job (``POST /investigations`` with ``"executor": "celery"``) is one investigation
of one subject: `submit_investigation` checks the request cheaply (the agent exists, the subject is
an address or a suite function; no model is loaded in the caller), stores the Job and sends
``autointerp.investigate`` to the ``cpu`` queue; a worker claims the job like the others, creates
the investigation (``Investigation.job_id`` = the job) and runs it with its agent session (tools
in-process on a worker that also serves ``gpu``, through the ``gpu`` queue otherwise). A re-run job
continues the investigation an earlier try created instead of starting a second one.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlmodel import col, select

from store.db import open_store, session
from store.errors import AutointerpError, InputError, StoreError
from store.models import Investigation, Job, JobCreate, JobKind, JobStatus, utcnow
from store.repo import create_job, update_job_progress
from store.settings import Settings
from workers.audit import AuditRequest
from workers.celery_app import CPU_QUEUE, GPU_QUEUE, TaskNames
from workers.jobs import JOB_LEASE_KEY

if TYPE_CHECKING:
    from agent.runner import Session

#: Celery task names of the jobs defined here (registered by ``workers.watch.register_service_tasks``).
AUDIT_TASK = "autointerp.audit"
EVAL_TASK = "autointerp.eval"
WATCH_TASK = "autointerp.watch_checkpoints"
INVESTIGATE_TASK = TaskNames.investigate
TASK_QUEUE = GPU_QUEUE
INVESTIGATE_QUEUE = CPU_QUEUE
#: The job kinds claimed here (label jobs are claimed per item in ``workers.jobs``).
SERVICE_KINDS = (JobKind.audit, JobKind.eval, JobKind.investigate)
#: Reserved key of ``Job.params`` that holds the lease (hidden from job views).
LEASE_KEY = JOB_LEASE_KEY

log = logging.getLogger("autointerp.workers")


class EvalJobParams(BaseModel):
    """An eval job: a suite, an agent, an evaluator, an optional item limit and a budget per item."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    suite: str = Field(min_length=1)
    agent: str = Field("builtin", min_length=1)
    evaluator: Literal["interpret", "embedding", "llm"] = "interpret"
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


ClaimOutcome = Literal["claimed", "skipped", "poisoned"]


class JobClaim(BaseModel):
    """A claimed job: its parameters (without the lease) and the attempt that fences its writes."""

    job_id: int
    kind: str
    attempt: int
    owner: str
    params: dict[str, Any]


def stored_params(row: Job) -> dict[str, Any]:
    """The job's parameters without the lease."""
    return {k: v for k, v in (row.params or {}).items() if k != LEASE_KEY}


def job_lease(row: Job) -> dict[str, Any]:
    """The job's lease: ``{"owner", "claimed_at"}`` while running, ``{"enqueued_at"}`` or {} when queued."""
    lease = (row.params or {}).get(LEASE_KEY)
    return lease if isinstance(lease, dict) else {}


def _claimed_at(row: Job) -> float:
    """When the running job's current holder claimed it (epoch seconds)."""
    lease = job_lease(row)
    if "claimed_at" in lease:
        return float(lease["claimed_at"])
    return (row.started_at or row.created_at).timestamp()


def _last_sent(row: Job) -> float:
    """When a message for the job was last sent or taken (epoch seconds): what the sweep ages."""
    lease = job_lease(row)
    stamps = [float(lease[k]) for k in ("claimed_at", "enqueued_at", "resent_at") if k in lease]
    return max(stamps) if stamps else (row.started_at or row.created_at).timestamp()


def claim_job(
    engine: Engine, job_id: int, *, owner: str, stale_after: float, max_attempts: int
) -> tuple[ClaimOutcome, JobClaim | None]:
    """Try to take audit, eval or investigate job ``job_id`` for ``owner`` (see the module docstring).

    Returns ("claimed", claim); ("skipped", None) when the job is finished, gone, not a service job,
    held by another owner whose lease is younger than ``stale_after``, or taken by someone else
    meanwhile; ("poisoned", None) when it had used up ``max_attempts`` and is now failed.
    """
    now = time.time()
    with session(engine, write=True) as db:
        row = db.get(Job, job_id)
        if row is None or row.kind not in SERVICE_KINDS or row.status in (JobStatus.succeeded, JobStatus.failed):
            return "skipped", None
        if row.status is JobStatus.running:
            holder = job_lease(row).get("owner")
            if holder != owner and now - _claimed_at(row) < stale_after:
                return "skipped", None
        # read everything first: an UPDATE through this session refreshes ``row`` in place
        status, attempts, kind, params = row.status, row.attempts, row.kind, stored_params(row)
        fence = [col(Job.id) == job_id, col(Job.status) == status, col(Job.attempts) == attempts]
        if attempts >= max_attempts:
            changed = db.exec(
                sa.update(Job)
                .where(*fence)
                .values(
                    status=JobStatus.failed,
                    finished_at=utcnow(),
                    params=params,
                    error=(
                        f"poisoned: gave up on {kind.value} job {job_id} after {attempts} attempts "
                        "(every try was cut short: its worker died or lost the database)"
                    ),
                )
            ).rowcount
            return ("poisoned" if changed == 1 else "skipped"), None
        changed = db.exec(
            sa.update(Job)
            .where(*fence)
            .values(
                status=JobStatus.running,
                attempts=attempts + 1,
                started_at=utcnow(),
                finished_at=None,
                error=None,
                params={**params, LEASE_KEY: {"owner": owner, "claimed_at": now}},
            )
        ).rowcount
    if changed != 1:
        return "skipped", None
    return "claimed", JobClaim(job_id=job_id, kind=kind.value, attempt=attempts + 1, owner=owner, params=params)


def finish_job(engine: Engine, claim: JobClaim, *, error: str | None = None) -> bool:
    """Mark the claimed job succeeded (or failed with the one-line ``error``) and drop its lease.

    False (and nothing written) when a newer claim took the job over.
    """
    with session(engine, write=True) as db:
        changed = db.exec(
            sa.update(Job)
            .where(
                col(Job.id) == claim.job_id,
                col(Job.status) == JobStatus.running,
                col(Job.attempts) == claim.attempt,
            )
            .values(
                status=JobStatus.failed if error is not None else JobStatus.succeeded,
                finished_at=utcnow(),
                error=error,
                params=claim.params,
            )
        ).rowcount
    if changed != 1:
        log.warning("job %s: attempt %s was taken over; its outcome is not recorded", claim.job_id, claim.attempt)
    return changed == 1


def _error_line(exc: BaseException) -> str:
    message = str(exc) if isinstance(exc, AutointerpError) else f"{type(exc).__name__}: {exc}"
    return (message.strip().splitlines() or ["failed"])[0]


def _claim(settings: Settings, engine: Engine, job_id: int, owner: str | None) -> tuple[ClaimOutcome, JobClaim | None]:
    """`claim_job` under the settings' lease rules, as ``owner`` (a fresh local id when None)."""
    return claim_job(
        engine,
        job_id,
        owner=owner or f"local-{uuid.uuid4().hex}",
        stale_after=settings.visibility_timeout,
        max_attempts=settings.max_attempts,
    )


def run_service_job(settings: Settings, job_id: int, *, owner: str | None = None) -> str:
    """Claim and run audit or eval job ``job_id`` as ``owner`` (the Celery task id; a fresh local id
    when None); returns ``ran``, ``skipped`` or ``poisoned``.

    The job row records success or the one-line error; the exception is not re-raised (a failed
    audit is a result, not a reason for Celery to redeliver). `StoreError` propagates untouched: the
    caller retries under the same owner, which re-claims the job.
    """
    engine = _engine(settings)
    outcome, claim = _claim(settings, engine, job_id, owner)
    if claim is None:
        return outcome
    try:
        if claim.kind == JobKind.audit.value:
            from workers.audit import execute_audit_job

            execute_audit_job(settings, engine, job_id, claim.params)
        elif claim.kind == JobKind.eval.value:
            run_eval(settings, engine, job_id, claim.params)
        else:
            raise InputError(f"job {job_id} is a {claim.kind} job, not an audit or eval job")
    except StoreError:
        raise
    except Exception as exc:
        finish_job(engine, claim, error=_error_line(exc))
        return "ran"
    finish_job(engine, claim)
    return "ran"


def task_of(kind: str) -> tuple[str, str]:
    """The Celery task name and queue that run a job of ``kind`` (audit, eval or investigate)."""
    if kind == JobKind.investigate.value:
        return INVESTIGATE_TASK, INVESTIGATE_QUEUE
    return (AUDIT_TASK if kind == JobKind.audit.value else EVAL_TASK), TASK_QUEUE


def sweep_service_jobs(engine: Engine, *, stale_after: float, send: Callable[[str, int], None]) -> dict[str, int]:
    """Re-send audit, eval and investigate jobs whose message was lost or whose holder is gone.

    A queued job last sent, or a running job last claimed or re-sent, more than ``stale_after``
    seconds ago gets a new message (``send(kind, job_id)``) and its lease is stamped so the next sweep
    waits a full period again. The claim makes a duplicate harmless, and a job that keeps losing its
    worker is poisoned after ``max_attempts`` claims. Returns how many were re-sent.
    """
    now = time.time()
    counts = {"queued": 0, "running": 0}
    with session(engine) as db:
        rows = list(
            db.exec(
                select(Job).where(
                    col(Job.kind).in_(SERVICE_KINDS), col(Job.status).in_([JobStatus.queued, JobStatus.running])
                )
            ).all()
        )
    for row in rows:
        assert row.id is not None
        if now - _last_sent(row) <= stale_after:
            continue
        stamp = "enqueued_at" if row.status is JobStatus.queued else "resent_at"
        lease = {**job_lease(row), stamp: now}
        with session(engine, write=True) as db:
            changed = db.exec(
                sa.update(Job)
                .where(col(Job.id) == row.id, col(Job.status) == row.status, col(Job.attempts) == row.attempts)
                .values(params={**stored_params(row), LEASE_KEY: lease})
            ).rowcount
        if changed != 1:  # claimed or finished meanwhile
            continue
        send(row.kind.value, row.id)
        counts[row.status.value] += 1
    return counts


def eval_folder(settings: Settings, job_id: int) -> Path:
    """Where an eval job writes its report: ``<home>/evals/job-<id>/``."""
    return settings.home.expanduser() / "evals" / f"job-{job_id}"


def run_eval(settings: Settings, engine: Engine, job_id: int, params: dict[str, Any]) -> None:
    """Run an eval job's suite with its agent and evaluator; write the report beside the store."""
    from agent.graph import Budget
    from evals.evaluators import make_evaluator
    from evals.report import write_report
    from evals.runner import Runner

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


# --------------------------------------------------------------------------------------------------
# Investigate jobs
# --------------------------------------------------------------------------------------------------


class InvestigationBudget(BaseModel):
    """Limits of one investigation (the fields of ``agent.graph.Budget``)."""

    model_config = ConfigDict(extra="forbid")

    tool_calls: int = Field(24, ge=1, le=1000)
    seconds: float = Field(900.0, gt=0, le=86_400)
    tokens: int = Field(400_000, ge=1)


class InvestigateJobParams(BaseModel):
    """An investigate job: one subject, its model (unit subjects), the agent and the budget."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    subject: str = Field(min_length=1)
    model: str | None = None
    agent: str = Field("builtin", min_length=1)
    budget: InvestigationBudget = Field(default_factory=InvestigationBudget)


def check_investigation_request(params: InvestigateJobParams) -> None:
    """Refuse what can be refused without loading a model: an unknown agent, a subject that is neither
    a unit address nor a readable suite function. InputError/ConfigError (one line) otherwise."""
    from agent.runner import make_brain
    from tools.addresses import Unit, parse_target
    from tools.suite_functions import load_suite_function

    make_brain(params.agent)
    if "#" in params.subject:
        load_suite_function(params.subject)
        return
    if not isinstance(parse_target(params.subject), Unit):
        raise InputError(f"{params.subject} is a site, not a subject; give a unit such as {params.subject}.0")


def submit_investigation(settings: Settings, params: dict[str, Any]) -> int:
    """Store an investigate job and send it to the ``cpu`` queue; return the job id at once.

    The unit's range is checked by the worker (it loads the model); a bad one fails the job with the
    one-line reason. InputError for what can be refused here.
    """
    from workers.celery_app import create_app

    try:
        parsed = InvestigateJobParams.model_validate(params)
    except ValidationError as exc:
        raise _one_line(exc, JobKind.investigate.value) from None
    check_investigation_request(parsed)
    job = create_job(_engine(settings), JobCreate(kind=JobKind.investigate, params=parsed.model_dump(mode="json")))
    assert job.id is not None
    create_app(settings).send_task(INVESTIGATE_TASK, args=[job.id], queue=INVESTIGATE_QUEUE)
    return job.id


def job_investigation(engine: Engine, job_id: int) -> int | None:
    """The newest investigation of job ``job_id`` (None before a worker has started it)."""
    from sqlmodel import select

    with session(engine) as db:
        query = select(Investigation.id).where(Investigation.job_id == job_id).order_by(col(Investigation.id).desc())
        return db.exec(query).first()


def run_investigation_job(run: Session, job_id: int, *, owner: str | None = None) -> str:
    """Claim and run investigate job ``job_id`` as ``owner`` (the Celery task id; a fresh local id
    when None) with the agent session ``run``; ``ran``, ``skipped`` or ``poisoned``.

    An investigation an earlier try of this job created is continued (from its checkpoint, or from
    its first messages when it never ran), not duplicated. The job records success or the one-line
    error; `StoreError` propagates (the caller retries under the same owner, which re-claims it).
    """
    from agent.graph import Budget
    from agent.runner import make_brain

    settings = run.settings
    engine = run.engine
    outcome, claim = _claim(settings, engine, job_id, owner)
    if claim is None:
        return outcome
    try:
        if claim.kind != JobKind.investigate.value:
            raise InputError(f"job {job_id} is a {claim.kind} job, not an investigate job")
        params = InvestigateJobParams.model_validate(claim.params)
        brain = make_brain(params.agent)
        earlier = job_investigation(engine, job_id)
        if earlier is not None:
            result = run.result(earlier)
            if result.explanation is None:
                result = run.proceed(earlier, brain)
        else:
            budget = Budget.model_validate(params.budget.model_dump())
            investigation_id, first = run.create(params.subject, params.model, params.agent, budget, job_id=job_id)
            result = run.run(investigation_id, brain, first)
        if result.explanation is None:
            raise RuntimeError(f"the investigation of {params.subject} wrote no explanation")
    except StoreError:
        raise
    except Exception as exc:
        finish_job(engine, claim, error=_error_line(exc))
        return "ran"
    update_job_progress(engine, job_id, done=1, total=1)
    finish_job(engine, claim)
    return "ran"
