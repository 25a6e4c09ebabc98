"""Audit, eval and investigate jobs: validated parameters, the Job row, the Celery message, running one.

Label jobs belong to ``workers.label`` (items per unit); `submit_service_job` hands them over
unchanged. An audit or eval job is one task: `submit_service_job` stores the Job and sends
``autointerp.audit`` (queue ``gpu``) or ``autointerp.eval`` (queue ``gpu``) with its id; the worker
calls `run_service_job`, which first **claims** the job.

**Leases.** Every audit, eval and investigate job is claimed the way a label item is, by
``workers.claims.claim_job``: a conditional UPDATE fenced by the ``(status, attempts)`` it read moves
the job to ``running``, bumps ``Job.attempts`` and records the lease in the job's columns
(``lease_owner`` = the task id, ``leased_at``). A running job is claimed again only by the *same*
owner (Celery redelivers under the same task id after a ``kill -9`` or a database retry) or once its
lease is older than the visibility timeout (its holder is gone); a duplicate message with another
task id while the holder lives is skipped. A job already claimed ``max_attempts`` times is failed
(poisoned) with a one-line reason instead of retried. The final status is written only by the
attempt that holds the claim. Beat's sweep (`sweep_service_jobs`) re-sends queued jobs whose
message was lost and running jobs whose lease went stale, so no job stays ``running`` forever.

**Files.** Jobs are the service's work: whatever submitted them, their suites (and the files their
tools read) are read under the confined policy of ``evals.suite.service_files`` (the data roots,
size and line caps), checked once when the job is submitted (a 4xx for the API) and again where it
runs. An uploaded suite is ``suite:NAME``.

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
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine

from store.db import open_store
from store.errors import AutointerpError, InputError, StoreError
from store.jobs import job_investigation, unfinished_jobs
from store.models import Job, JobCreate, JobKind, utcnow
from store.repo import create_job, update_job_progress
from store.settings import Settings
from workers.audit import AuditHooks, AuditReport, AuditRequest, audit_folder, run_audit
from workers.celery_app import CPU_QUEUE, GPU_QUEUE, TaskNames
from workers.claims import SERVICE_KINDS, Claim, ClaimOutcome, claim_job, finish_job, is_due, stamp_sent
from workers.hdprobe import HDPROBE_TASK, HDProbeJobParams, execute_hdprobe_job
from workers.jobs import check_executor
from workers.shift import SHIFT_TASK, ShiftJobParams, execute_shift_job

if TYPE_CHECKING:
    from agent.runner import Session
    from tools.files import FileAccess

__all__ = [
    "AUDIT_TASK",
    "EVAL_TASK",
    "HDPROBE_TASK",
    "INVESTIGATE_TASK",
    "SERVICE_KINDS",
    "SHIFT_TASK",
    "WATCH_TASK",
    "EvalJobParams",
    "InvestigateJobParams",
    "check_eval_suite",
    "create_service_job",
    "eval_folder",
    "execute_audit_job",
    "run_investigation_job",
    "run_service_job",
    "submit_investigation",
    "submit_service_job",
    "sweep_service_jobs",
    "task_of",
]

#: Celery task names of the jobs defined here (registered by ``workers.watch.register_service_tasks``).
AUDIT_TASK = "autointerp.audit"
EVAL_TASK = "autointerp.eval"
WATCH_TASK = "autointerp.watch_checkpoints"
INVESTIGATE_TASK = TaskNames.investigate
TASK_QUEUE = GPU_QUEUE
INVESTIGATE_QUEUE = CPU_QUEUE

log = logging.getLogger("autointerp.workers")


class EvalJobParams(BaseModel):
    """An eval job: a suite, an agent, an evaluator, an optional item limit and a budget per item."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    suite: str = Field(min_length=1)  # a file under the data roots, or suite:NAME (uploaded)
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
    """The canonical parameters of an audit, eval, shift or hdprobe job; one-line InputError naming the bad fields."""
    try:
        if kind == JobKind.audit.value:
            return AuditRequest.model_validate(params).model_dump(mode="json")
        if kind == JobKind.eval.value:
            return EvalJobParams.model_validate(params).model_dump(mode="json")
        if kind == JobKind.shift.value:
            return ShiftJobParams.model_validate(params).model_dump(mode="json")
        if kind == JobKind.hdprobe.value:
            return HDProbeJobParams.model_validate(params).model_dump(mode="json")
    except ValidationError as exc:
        raise _one_line(exc, kind) from None
    raise InputError(f"unknown job kind {kind!r}; expected label, audit, eval, shift or hdprobe")


def _engine(settings: Settings) -> Engine:
    if settings.db is None:
        settings.ensure_home()
    return open_store(settings.db_url())


def enqueue(settings: Settings, kind: str, job_id: int) -> None:
    """Send the task that runs audit/eval/shift/hdprobe job ``job_id`` to the workers."""
    from workers.celery_app import create_app

    name, queue = task_of(kind)
    create_app(settings).send_task(name, args=[job_id], queue=queue)


def submit_service_job(settings: Settings, kind: str, params: dict[str, Any], executor: str = "celery") -> int:
    """Queue a label, audit or eval job and return its id (label jobs go to
    ``workers.label.submit_label_job``).

    ``executor="local"`` runs the job here before returning. InputError for bad input.
    """
    if kind == JobKind.label.value:
        from workers.label import submit_label_job

        return submit_label_job(settings, params, executor)
    chosen = check_executor(executor)
    job_id = create_service_job(settings, kind, params)
    if chosen == "celery":
        enqueue(settings, kind, job_id)
    else:
        run_service_job(settings, job_id)
    return job_id


def create_service_job(settings: Settings, kind: str, params: dict[str, Any]) -> int:
    """Check an audit, eval, shift or hdprobe job's parameters and store it (queued, not sent); return its id."""
    canonical = validate_service_params(kind, params)
    if kind == JobKind.eval.value:
        check_eval_suite(settings, canonical["suite"])
    job = create_job(_engine(settings), JobCreate(kind=JobKind(kind), params=canonical))
    assert job.id is not None
    return job.id


def check_eval_suite(settings: Settings, suite: str) -> None:
    """Refuse an eval job whose suite the workers could not run: a file outside the data roots (or
    missing, or not a regular file: one message for all), over the size caps, or with no valid item.
    The suite is read here under the same confined policy the workers use (``service_files``)."""
    from evals.suite import load_suite, service_files

    loaded = load_suite(suite, files=service_files(settings), store=lambda: _engine(settings))
    if not loaded.items:
        first = f" ({loaded.errors[0].message})" if loaded.errors else ""
        raise InputError(f"suite {suite} has no valid items{first}")


def _error_line(exc: BaseException) -> str:
    message = str(exc) if isinstance(exc, AutointerpError) else f"{type(exc).__name__}: {exc}"
    return (message.strip().splitlines() or ["failed"])[0]


def _claim(
    settings: Settings, engine: Engine, job_id: int, owner: str | None
) -> tuple[ClaimOutcome, Claim[Job] | None]:
    """`claim_job` under the settings' lease rules, as ``owner`` (a fresh local id when None)."""
    return claim_job(
        engine,
        job_id,
        owner=owner or f"local-{uuid.uuid4().hex}",
        stale_after=settings.visibility_timeout,
        max_attempts=settings.max_attempts,
    )


def run_service_job(
    settings: Settings,
    job_id: int,
    *,
    owner: str | None = None,
    model_roots: Sequence[Path] = (),
    progress: bool = False,
) -> str:
    """Claim and run audit, eval, shift or hdprobe job ``job_id`` as ``owner`` (the Celery task id; a fresh local id
    when None); returns ``ran``, ``skipped`` or ``poisoned``. ``progress`` shows progress bars (a shift
    job's capture) when run from a terminal.

    The job row records success or the one-line error; the exception is not re-raised (a failed
    audit is a result, not a reason for Celery to redeliver). `StoreError` propagates untouched: the
    caller retries under the same owner, which re-claims the job.
    """
    engine = _engine(settings)
    outcome, claim = _claim(settings, engine, job_id, owner)
    if claim is None:
        return outcome.value
    kind, params = claim.row.kind, claim.row.params
    try:
        if kind is JobKind.audit:
            execute_audit_job(settings, engine, job_id, params, model_roots)
        elif kind is JobKind.eval:
            run_eval(settings, engine, job_id, params)
        elif kind is JobKind.shift:
            execute_shift_job(settings, engine, job_id, params, progress=progress)
        elif kind is JobKind.hdprobe:
            execute_hdprobe_job(settings, engine, job_id, params, progress=progress)
        else:
            raise InputError(f"job {job_id} is a {kind.value} job, not an audit, eval, shift or hdprobe job")
    except StoreError:
        raise
    except Exception as exc:
        finish_job(engine, claim, error=_error_line(exc))
        return "ran"
    finish_job(engine, claim)
    return "ran"


def task_of(kind: str) -> tuple[str, str]:
    """The Celery task name and queue that run a job of ``kind`` (audit, eval, shift, hdprobe or investigate)."""
    if kind == JobKind.investigate.value:
        return INVESTIGATE_TASK, INVESTIGATE_QUEUE
    names = {
        JobKind.audit.value: AUDIT_TASK,
        JobKind.eval.value: EVAL_TASK,
        JobKind.shift.value: SHIFT_TASK,
        JobKind.hdprobe.value: HDPROBE_TASK,
    }
    if kind not in names:
        raise InputError(f"no task runs {kind!r} jobs")
    return names[kind], TASK_QUEUE


def sweep_service_jobs(engine: Engine, *, stale_after: float, send: Callable[[str, int], None]) -> dict[str, int]:
    """Re-send audit, eval and investigate jobs whose message was lost or whose holder is gone.

    A queued job last sent, or a running job last claimed or re-sent, more than ``stale_after``
    seconds ago (``workers.claims.last_sent``) gets a new message (``send(kind, job_id)``) and its
    ``sent_at`` is stamped, so the next sweep waits a full period again. The claim makes a duplicate
    harmless, and a job that keeps losing its worker is poisoned after ``max_attempts`` claims.
    Returns how many were re-sent, by status.
    """
    now = utcnow()
    counts = {"queued": 0, "running": 0}
    for row in unfinished_jobs(engine, SERVICE_KINDS):
        assert row.id is not None
        if not is_due(row, stale_after, now):
            continue
        send(row.kind.value, row.id)
        stamp_sent(engine, Job, [row.id])
        counts[row.status.value] += 1
    return counts


def execute_audit_job(
    settings: Settings, engine: Engine, job_id: int, params: dict[str, Any], model_roots: Sequence[Path] = ()
) -> AuditReport:
    """Run the audit described by a job's stored ``params``, reporting progress on job ``job_id`` and
    writing the report to ``workers.audit.audit_folder``. Status changes are `run_service_job`'s.

    The checkpoints load under the workers' confined policy: from the model roots, plus
    ``model_roots`` (the watcher's folder and baseline, which the operator configured)."""
    from evals.suite import service_files
    from workers.audit_report import write_report

    request = AuditRequest.model_validate({k: v for k, v in params.items() if k in AuditRequest.model_fields})
    report = run_audit(
        request,
        settings,
        AuditHooks(progress=lambda done, total: update_job_progress(engine, job_id, done=done, total=total)),
        files=service_files(settings, model_roots),
    )
    write_report(report, audit_folder(settings, job_id))
    return report


def eval_folder(settings: Settings, job_id: int) -> Path:
    """Where an eval job writes its report: ``<home>/evals/job-<id>/``."""
    return settings.home.expanduser() / "evals" / f"job-{job_id}"


def run_eval(settings: Settings, engine: Engine, job_id: int, params: dict[str, Any]) -> None:
    """Run an eval job's suite with its agent and evaluator; write the report beside the store."""
    from agent.graph import Budget
    from evals.judges import make_evaluator
    from evals.report import write_report
    from evals.runner import Runner
    from evals.suite import service_files

    parsed = EvalJobParams.model_validate(params)
    runner = Runner(
        parsed.suite,
        parsed.agent,
        make_evaluator(parsed.evaluator),
        settings=settings,
        budget=Budget(tool_calls=parsed.budget),
        files=service_files(settings),
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


def check_investigation_request(
    params: InvestigateJobParams, *, files: FileAccess | None = None, store: Callable[[], Engine] | None = None
) -> None:
    """Refuse what can be refused without loading a model: an unknown agent, a subject that is neither
    a unit address nor a suite function readable under ``files`` (a file, or ``suite:NAME`` from
    ``store()``). InputError/ConfigError (one line) otherwise."""
    from agent.runner import make_brain
    from tools.functions.suite import load_suite_function
    from tools.runtime.addresses import Unit, parse_target

    make_brain(params.agent)
    if "#" in params.subject:
        load_suite_function(params.subject, files=files, store=store)
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
    from evals.suite import service_files

    check_investigation_request(parsed, files=service_files(settings), store=lambda: _engine(settings))
    job = create_job(_engine(settings), JobCreate(kind=JobKind.investigate, params=parsed.model_dump(mode="json")))
    assert job.id is not None
    create_app(settings).send_task(INVESTIGATE_TASK, args=[job.id], queue=INVESTIGATE_QUEUE)
    return job.id


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
        return outcome.value
    try:
        if claim.row.kind is not JobKind.investigate:
            raise InputError(f"job {job_id} is a {claim.row.kind.value} job, not an investigate job")
        params = InvestigateJobParams.model_validate(claim.row.params)
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
