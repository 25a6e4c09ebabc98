"""Jobs and their items: create, find again, claim, finish, progress — the store side of the workers.

Public entry points (what the HTTP API and the CLI call)::

    submit_job(settings: Settings, kind: str, params: dict, executor: str = "celery") -> int
        Validate ``params`` (for kind ``label``: `LabelJobParams`), create the Job and one JobItem per
        unit (or find the unfinished job with the same parameters), enqueue it and return its id.
        ``executor="celery"`` only enqueues (returns at once); ``"local"`` runs the whole job in this
        process before returning. Bad input raises `InputError` (one line, exit status 2 in the CLI).

    job_view(engine: Engine, job_id: int) -> JobView
        The job's id, kind, status (queued|running|succeeded|failed), progress {done, total}, error,
        parameters and timestamps. `InputError` when there is no such job.

    list_jobs(engine: Engine, *, kind: str | None = None, limit: int = 50) -> list[JobView]

**Finding a job again.** A label job's identity is its parameters without the executor
(`LabelJobParams.digest`): submitting the same parameters again returns the newest job with that
digest, re-enqueuing its unfinished units (units that failed earlier get a fresh set of attempts),
so a re-run skips every finished unit. ``new=True`` (``autointerp label --new``) always makes a new
job; ``autointerp label --job ID`` resumes one by id.

**Claiming an item.** Exactly one worker labels a unit: `claim_item` moves the item to ``running``
and bumps ``attempts`` with an UPDATE conditioned on the ``(status, attempts)`` it read (optimistic
concurrency, the same on SQLite and PostgreSQL). While an item is queued or running its ``result``
column holds a lease: ``{"owner": <task id>, "claimed_at": <epoch s>}`` (or ``{"enqueued_at": ...}``).
A running item is claimed again only by the *same* owner (Celery redelivers a message under the same
task id after its worker died: late acks + reject on worker lost) or once its lease is older than
``stale_after`` (the visibility timeout, which exceeds the hard time limit, so the holder is gone).
An item already claimed ``max_attempts`` times is marked ``failed`` (poisoned) instead of retried.
Every write on an item is conditioned on the attempt that claimed it, so a stale holder can never
overwrite a newer one. The finished result replaces the lease.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Engine
from sqlmodel import col, select

from store.db import open_store, session
from store.errors import InputError
from store.models import Job, JobCreate, JobItem, JobKind, JobStatus, utcnow
from store.repo import create_job, get_job, set_job_status
from store.settings import Settings

__all__ = [
    "Claim",
    "JobProgress",
    "JobView",
    "LabelJobParams",
    "claim_item",
    "find_or_create_label_job",
    "finish_item",
    "job_items",
    "job_view",
    "list_jobs",
    "parse_units",
    "refresh_job",
    "release_item",
    "reopen_failed_items",
    "set_item_investigation",
    "submit_job",
]

ExecutorName = Literal["local", "celery"]
#: Reserved key of ``Job.params`` holding an audit, eval or investigate job's lease
#: (``workers.service_jobs``); never shown in a job view.
JOB_LEASE_KEY = "_lease"
_UNITS = re.compile(r"^\s*(\d+)\s*(?::\s*(\d+)\s*)?$")


def parse_units(spec: str) -> tuple[int, int]:
    """``"0:64"`` → (0, 64) (half-open, like Python slices); ``"7"`` → (7, 8). InputError otherwise."""
    match = _UNITS.match(spec)
    if match is None:
        raise InputError(f"bad --units {spec!r}; give START:STOP (e.g. 0:64, STOP excluded) or one index")
    start = int(match[1])
    stop = int(match[2]) if match[2] is not None else start + 1
    if stop <= start:
        raise InputError(f"bad --units {spec!r}: STOP ({stop}) must be greater than START ({start})")
    return start, stop


class LabelJobParams(BaseModel):
    """What a label job explains and how: MLP neurons ``start..stop-1`` of ``layer`` of ``model``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model: str = Field(min_length=1, description="Embedded name, local HF folder, .gguf file or hub id.")
    layer: int = Field(ge=0)
    start: int = Field(ge=0)
    stop: int = Field(ge=1, description="First unit index not labeled (half-open range).")
    agent: str = Field("builtin", min_length=1, description="builtin, openai:<model> or anthropic:<model>.")
    budget: int = Field(24, ge=1, le=1000, description="Tool calls per investigation.")
    seconds: float = Field(900.0, gt=0, description="Wall-clock budget per investigation.")
    max_tokens: int = Field(100_000, ge=1_000, description="Corpus tokens of the layer's exemplar cache.")

    @model_validator(mode="before")
    @classmethod
    def _units_string(cls, data: Any) -> Any:
        """Accept ``units: "0:64"`` in place of ``start``/``stop``."""
        if isinstance(data, dict) and "units" in data:
            data = dict(data)
            start, stop = parse_units(str(data.pop("units")))
            data.setdefault("start", start)
            data.setdefault("stop", stop)
        return data

    @model_validator(mode="after")
    def _range(self) -> LabelJobParams:
        """The unit range must not be empty."""
        if self.stop <= self.start:
            raise ValueError(f"stop ({self.stop}) must be greater than start ({self.start})")
        return self

    def keys(self) -> list[str]:
        """The unit addresses, in order (the items' keys)."""
        return [f"L{self.layer}.mlp.{i}" for i in range(self.start, self.stop)]

    def digest(self) -> str:
        """sha256 of the canonical parameters: the job's identity for re-runs."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


def validate_params(kind: str, params: dict[str, Any]) -> LabelJobParams:
    """The validated parameters of a job of ``kind``; one-line InputError naming the fields at fault."""
    if kind != JobKind.label.value:
        raise InputError(f"jobs of kind {kind!r} cannot be submitted here; supported: label")
    try:
        return LabelJobParams.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise InputError(f"invalid label job parameters: {problems}") from None


# --------------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------------


class JobProgress(BaseModel):
    """Finished units (labeled or failed) out of all units."""

    done: int
    total: int | None


class JobView(BaseModel):
    """A job as the CLI and the API show it."""

    id: int
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: JobProgress
    error: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    attempts: int = 0
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ItemView(BaseModel):
    """One unit of a job."""

    key: str
    status: str
    attempts: int
    investigation_id: int | None
    label: str | None = None
    error: str | None = None


def _view(row: Job) -> JobView:
    assert row.id is not None
    return JobView(
        id=row.id,
        kind=row.kind.value,
        status=row.status.value,
        progress=JobProgress(done=row.progress_done, total=row.progress_total),
        error=row.error,
        params={k: v for k, v in (row.params or {}).items() if k not in ("digest", JOB_LEASE_KEY)},
        attempts=row.attempts,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def job_view(engine: Engine, job_id: int) -> JobView:
    """The job ``job_id`` as a `JobView`; InputError when there is none."""
    row = get_job(engine, job_id)
    if row is None:
        raise InputError(f"no job with id {job_id}; `autointerp jobs list` shows the jobs")
    return _view(row)


def list_jobs(engine: Engine, *, kind: str | None = None, limit: int = 50) -> list[JobView]:
    """The newest ``limit`` jobs (of ``kind`` when given), newest first."""
    query = select(Job).order_by(col(Job.id).desc()).limit(limit)
    if kind is not None:
        query = query.where(Job.kind == JobKind(kind))
    with session(engine) as db:
        rows = list(db.exec(query).all())
    return [_view(r) for r in rows]


def job_items(engine: Engine, job_id: int) -> list[ItemView]:
    """Every unit of a job, in key order as created."""
    with session(engine) as db:
        rows = list(db.exec(select(JobItem).where(JobItem.job_id == job_id).order_by(col(JobItem.id))).all())
    views = []
    for r in rows:
        label = r.result.get("label") if r.status is JobStatus.succeeded and isinstance(r.result, dict) else None
        views.append(
            ItemView(
                key=r.key,
                status=r.status.value,
                attempts=r.attempts,
                investigation_id=r.investigation_id,
                label=label,
                error=r.error,
            )
        )
    return views


# --------------------------------------------------------------------------------------------------
# Creating and finding jobs
# --------------------------------------------------------------------------------------------------


def find_or_create_label_job(
    engine: Engine, params: LabelJobParams, *, job_id: int | None = None, new: bool = False
) -> tuple[int, bool]:
    """The job to run for ``params``: job ``job_id`` when given, else the newest label job with the
    same digest unless ``new``, else a fresh one with one queued item per unit. Returns (id, created).

    Reusing a job reopens its failed items (fresh attempts), so a re-run retries them and skips the
    labeled ones.
    """
    if job_id is not None:
        row = get_job(engine, job_id)
        if row is None or row.kind is not JobKind.label:
            raise InputError(f"no label job with id {job_id}; `autointerp jobs list` shows the jobs")
        reopen_failed_items(engine, job_id)
        return job_id, False
    digest = params.digest()
    if not new:
        with session(engine) as db:
            rows = db.exec(select(Job).where(Job.kind == JobKind.label).order_by(col(Job.id).desc())).all()
            found = next((r.id for r in rows if (r.params or {}).get("digest") == digest), None)
        if found is not None:
            reopen_failed_items(engine, found)
            return found, False
    keys = params.keys()
    job = create_job(
        engine,
        JobCreate(
            kind=JobKind.label, params={**params.model_dump(mode="json"), "digest": digest}, progress_total=len(keys)
        ),
    )
    assert job.id is not None
    now = time.time()
    with session(engine, write=True) as db:
        db.add_all(JobItem(job_id=job.id, key=key, result={"enqueued_at": now}) for key in keys)
    return job.id, True


def reopen_failed_items(engine: Engine, job_id: int) -> int:
    """Give the job's failed items a fresh set of attempts (status queued); return how many."""
    with session(engine, write=True) as db:
        changed = db.exec(
            sa.update(JobItem)
            .where(col(JobItem.job_id) == job_id, col(JobItem.status) == JobStatus.failed)
            .values(
                status=JobStatus.queued, attempts=0, error=None, finished_at=None, result={"enqueued_at": time.time()}
            )
        ).rowcount
    if changed:
        set_job_status(engine, job_id, JobStatus.running)
    return int(changed or 0)


def submit_job(
    settings: Settings, kind: str, params: dict[str, Any], executor: str = "celery", *, new: bool = False
) -> int:
    """Create (or find again) a job, enqueue it and return its id (see the module docstring).

    ``executor="celery"`` sends the job to the workers and returns at once; ``"local"`` runs it to the
    end in this process first. ``new`` makes a new job even when one with these parameters exists.
    Raises `InputError` for bad parameters or an unknown executor.
    """
    if executor not in ("local", "celery"):
        raise InputError(f"unknown executor {executor!r}; expected local or celery")
    parsed = validate_params(kind, params)
    engine = open_store(settings.db_url())
    job_id, _ = find_or_create_label_job(engine, parsed, new=new)
    if executor == "celery":
        from workers.label import enqueue_label_job

        enqueue_label_job(settings, job_id)
    else:
        from workers.label import run_label_job_locally

        run_label_job_locally(settings, job_id, progress=False)
    return job_id


# --------------------------------------------------------------------------------------------------
# Claiming and finishing items
# --------------------------------------------------------------------------------------------------


class Claim(BaseModel):
    """A claimed item: what the worker needs to label it, and the attempt that fences its writes."""

    item_id: int
    job_id: int
    key: str
    attempt: int
    owner: str
    investigation_id: int | None = None


ClaimOutcome = Literal["claimed", "skipped", "poisoned"]


def _lease_fresh(row: JobItem, owner: str, stale_after: float, now: float) -> bool:
    """True when another owner holds the running item and its lease is younger than ``stale_after``."""
    lease = row.result if isinstance(row.result, dict) else {}
    holder = lease.get("owner")
    claimed = float(lease.get("claimed_at", 0.0))
    if holder == owner:
        return False
    return now - claimed < stale_after


def claim_item(
    engine: Engine, item_id: int, *, owner: str, max_attempts: int, stale_after: float
) -> tuple[ClaimOutcome, Claim | None]:
    """Try to take item ``item_id`` for ``owner`` (see the module docstring).

    Returns ("claimed", claim), ("skipped", None) when it is finished, gone or held by a live owner,
    or ("poisoned", None) when it had used up ``max_attempts`` and has now been marked failed.
    """
    now = time.time()
    with session(engine, write=True) as db:
        row = db.get(JobItem, item_id)
        if row is None or row.status in (JobStatus.succeeded, JobStatus.failed):
            return "skipped", None
        if row.status is JobStatus.running and _lease_fresh(row, owner, stale_after, now):
            return "skipped", None
        # read everything first: an UPDATE through this session refreshes ``row`` in place
        attempts, status, key, job_id, investigation_id = (
            row.attempts,
            row.status,
            row.key,
            row.job_id,
            row.investigation_id,
        )
        last_error = row.error
        fence = [col(JobItem.id) == item_id, col(JobItem.status) == status, col(JobItem.attempts) == attempts]
        if attempts >= max_attempts:
            last = f" (last error: {last_error})" if last_error else ""
            db.exec(
                sa.update(JobItem)
                .where(*fence)
                .values(
                    status=JobStatus.failed,
                    finished_at=utcnow(),
                    result=None,
                    error=f"poisoned: gave up on {key} after {attempts} attempts{last}",
                )
            )
            outcome: ClaimOutcome = "poisoned"
            claim = None
        else:
            changed = db.exec(
                sa.update(JobItem)
                .where(*fence)
                .values(status=JobStatus.running, attempts=attempts + 1, result={"owner": owner, "claimed_at": now})
            ).rowcount
            if changed != 1:
                return "skipped", None
            outcome = "claimed"
            claim = Claim(
                item_id=item_id,
                job_id=job_id,
                key=key,
                attempt=attempts + 1,
                owner=owner,
                investigation_id=investigation_id,
            )
    if outcome == "poisoned":
        refresh_job(engine, job_id)
    return outcome, claim


def _fenced(claim: Claim) -> list[sa.ColumnElement[bool]]:
    return [
        col(JobItem.id) == claim.item_id,
        col(JobItem.attempts) == claim.attempt,
        col(JobItem.status) == JobStatus.running,
    ]


def set_item_investigation(engine: Engine, claim: Claim, investigation_id: int) -> bool:
    """Record the investigation labeling the claimed item (so a retry resumes it); False if fenced out."""
    with session(engine, write=True) as db:
        changed = db.exec(sa.update(JobItem).where(*_fenced(claim)).values(investigation_id=investigation_id)).rowcount
    return changed == 1


def finish_item(
    engine: Engine, claim: Claim, *, result: dict[str, Any] | None = None, error: str | None = None
) -> bool:
    """Mark the claimed item succeeded (``result``) or failed (``error``) and update the job's progress.

    False (and nothing written) when a newer claim took the item over.
    """
    status = JobStatus.failed if error is not None else JobStatus.succeeded
    with session(engine, write=True) as db:
        changed = db.exec(
            sa.update(JobItem)
            .where(*_fenced(claim))
            .values(status=status, result=result, error=error, finished_at=utcnow())
        ).rowcount
    refresh_job(engine, claim.job_id)
    return changed == 1


def release_item(engine: Engine, claim: Claim, error: str) -> bool:
    """Put the claimed item back in the queue after a failed try (its attempts stay counted)."""
    with session(engine, write=True) as db:
        changed = db.exec(
            sa.update(JobItem)
            .where(*_fenced(claim))
            .values(status=JobStatus.queued, error=error, result={"enqueued_at": time.time()})
        ).rowcount
    return changed == 1


def mark_enqueued(engine: Engine, item_ids: Sequence[int]) -> None:
    """Stamp queued items as (re-)sent now, so the sweeper waits a full period before re-sending."""
    if not item_ids:
        return
    with session(engine, write=True) as db:
        db.exec(
            sa.update(JobItem)
            .where(col(JobItem.id).in_(list(item_ids)), col(JobItem.status) == JobStatus.queued)
            .values(result={"enqueued_at": time.time()})
        )


def unfinished_items(engine: Engine, job_id: int) -> list[JobItem]:
    """The job's items still queued or running, in creation order."""
    with session(engine) as db:
        query = (
            select(JobItem)
            .where(JobItem.job_id == job_id, col(JobItem.status).in_([JobStatus.queued, JobStatus.running]))
            .order_by(col(JobItem.id))
        )
        return list(db.exec(query).all())


def refresh_job(engine: Engine, job_id: int) -> JobView:
    """Recount the job's finished items into its progress; finish the job when no item is left.

    The job succeeds when every item succeeded and fails (naming the failed units) otherwise.
    Idempotent: any worker may call it any number of times.
    """
    with session(engine, write=True) as db:
        grouped = db.execute(
            sa.select(col(JobItem.status), sa.func.count())
            .where(col(JobItem.job_id) == job_id)
            .group_by(col(JobItem.status))
        ).all()
        counts: dict[JobStatus, int] = {JobStatus(status): int(n) for status, n in grouped}
        done = counts.get(JobStatus.succeeded, 0) + counts.get(JobStatus.failed, 0)
        total = sum(counts.values())
        db.exec(sa.update(Job).where(col(Job.id) == job_id).values(progress_done=done, progress_total=total))
        failed = []
        if done == total and counts.get(JobStatus.failed, 0):
            failed = list(
                db.exec(
                    select(JobItem).where(JobItem.job_id == job_id, JobItem.status == JobStatus.failed).limit(3)
                ).all()
            )
        row = db.get(Job, job_id, populate_existing=True)
        finished_already = row is not None and row.status in (JobStatus.succeeded, JobStatus.failed)
    if total and done == total and not finished_already:
        if failed:
            n_failed = counts.get(JobStatus.failed, 0)
            detail = "; ".join(f"{i.key}: {i.error}" for i in failed)
            set_job_status(engine, job_id, JobStatus.failed, error=f"{n_failed} of {total} units failed: {detail}")
        else:
            set_job_status(engine, job_id, JobStatus.succeeded)
    return job_view(engine, job_id)
