"""Typed queries on jobs, their items, audit runs and what jobs read of investigations and explanations.

The plain reads and writes the workers, the CLI and the API make; like `store.repo`, every function
opens its own short session (one transaction) and returns detached objects whose attributes stay
loaded. The fenced claim protocol (claim, finish, release and lease stamps, conditioned on the attempt
that holds the claim) is not here but in ``workers.claims``. Database failures raise `StoreError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from store.db import session
from store.errors import ConstraintError, StoreError
from store.models import (
    AuditRun,
    Explanation,
    Investigation,
    InvestigationStatus,
    Job,
    JobCreate,
    JobItem,
    JobKind,
    JobStatus,
    ModelRecord,
    Subject,
    utcnow,
)

__all__ = [
    "FINISHED",
    "UNFINISHED",
    "create_checkpoint_audit",
    "create_job_with_items",
    "explained_units",
    "find_job_by_digest",
    "find_orphan_investigation",
    "job_investigation",
    "latest_labels",
    "list_job_items",
    "list_jobs",
    "refresh_job_progress",
    "reopen_failed_items",
    "unfinished_items",
    "unfinished_jobs",
]

#: Statuses of a job or item that is over / not over yet.
FINISHED = (JobStatus.succeeded, JobStatus.failed)
UNFINISHED = (JobStatus.queued, JobStatus.running)

#: How many failed items a failed job's error names.
_FAILED_NAMED = 3


# --------------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------------


def list_jobs(engine: Engine, *, kind: JobKind | None = None, limit: int = 50) -> list[Job]:
    """The newest ``limit`` jobs (of ``kind`` when given), newest first."""
    query = select(Job).order_by(col(Job.id).desc()).limit(limit)
    if kind is not None:
        query = query.where(Job.kind == kind)
    with session(engine) as db:
        return list(db.exec(query).all())


def unfinished_jobs(engine: Engine, kinds: Sequence[JobKind]) -> list[Job]:
    """Every job of one of ``kinds`` still queued or running, oldest first."""
    query = (
        select(Job).where(col(Job.kind).in_(list(kinds)), col(Job.status).in_(list(UNFINISHED))).order_by(col(Job.id))
    )
    with session(engine) as db:
        return list(db.exec(query).all())


def find_job_by_digest(engine: Engine, kind: JobKind, digest: str) -> int | None:
    """The id of the newest job of ``kind`` whose ``params["digest"]`` is ``digest``, or None."""
    query = select(Job.id, Job.params).where(Job.kind == kind).order_by(col(Job.id).desc())
    with session(engine) as db:
        for job_id, params in db.exec(query):
            if isinstance(params, dict) and params.get("digest") == digest:
                return job_id
    return None


def create_job_with_items(engine: Engine, data: JobCreate, keys: Sequence[str]) -> Job:
    """A new queued job with one queued item per key (sent now), all in one transaction."""
    now = utcnow()
    with session(engine, write=True) as db:
        job = Job(kind=data.kind, params=dict(data.params), progress_total=data.progress_total)
        db.add(job)
        db.flush()
        assert job.id is not None
        db.add_all(JobItem(job_id=job.id, key=key, sent_at=now) for key in keys)
        return job


def job_investigation(engine: Engine, job_id: int) -> int | None:
    """The newest investigation of job ``job_id`` (None before a worker has started one)."""
    query = select(Investigation.id).where(Investigation.job_id == job_id).order_by(col(Investigation.id).desc())
    with session(engine) as db:
        return db.exec(query).first()


def find_orphan_investigation(engine: Engine, job_id: int, address: str) -> int | None:
    """The newest investigation of job ``job_id`` on the subject at ``address`` that is still
    ``running`` with no explanation (one a crashed try created), or None."""
    query = (
        select(Investigation.id)
        .join(Subject, col(Subject.id) == col(Investigation.subject_id))
        .outerjoin(Explanation, col(Explanation.investigation_id) == col(Investigation.id))
        .where(
            col(Investigation.job_id) == job_id,
            col(Subject.address) == address,
            col(Investigation.status) == InvestigationStatus.running,
            col(Explanation.id).is_(None),
        )
        .order_by(col(Investigation.id).desc())
    )
    with session(engine) as db:
        return db.exec(query).first()


# --------------------------------------------------------------------------------------------------
# Items
# --------------------------------------------------------------------------------------------------


def list_job_items(engine: Engine, job_id: int) -> list[JobItem]:
    """Every item of job ``job_id``, in creation order."""
    with session(engine) as db:
        return list(db.exec(select(JobItem).where(JobItem.job_id == job_id).order_by(col(JobItem.id))).all())


def unfinished_items(engine: Engine, job_id: int) -> list[JobItem]:
    """The job's items still queued or running, in creation order."""
    query = (
        select(JobItem)
        .where(JobItem.job_id == job_id, col(JobItem.status).in_(list(UNFINISHED)))
        .order_by(col(JobItem.id))
    )
    with session(engine) as db:
        return list(db.exec(query).all())


def reopen_failed_items(engine: Engine, job_id: int) -> int:
    """Give the job's failed items a fresh set of attempts (queued, no error, sent now); how many."""
    with session(engine, write=True) as db:
        changed = db.exec(
            sa.update(JobItem)
            .where(col(JobItem.job_id) == job_id, col(JobItem.status) == JobStatus.failed)
            .values(
                status=JobStatus.queued,
                attempts=0,
                error=None,
                finished_at=None,
                result=None,
                lease_owner=None,
                leased_at=None,
                sent_at=utcnow(),
            )
        ).rowcount
    return int(changed or 0)


def refresh_job_progress(engine: Engine, job_id: int) -> Job:
    """Recount the job's finished items into its progress and, when none is left, finish the job:
    succeeded when every item succeeded, failed (naming up to three failed items) otherwise.

    One transaction; idempotent (any worker may call it any number of times): a job already finished
    keeps its status. Returns the job as stored afterwards; `StoreError` when there is no such job.
    """
    with session(engine, write=True) as db:
        grouped = db.execute(
            sa.select(col(JobItem.status), sa.func.count())
            .where(col(JobItem.job_id) == job_id)
            .group_by(col(JobItem.status))
        ).all()
        by_status: dict[JobStatus, int] = {JobStatus(status): int(n) for status, n in grouped}
        failed = by_status.get(JobStatus.failed, 0)
        done, total = by_status.get(JobStatus.succeeded, 0) + failed, sum(by_status.values())
        db.exec(sa.update(Job).where(col(Job.id) == job_id).values(progress_done=done, progress_total=total))
        if total and done == total:
            final: dict[str, Any] = {"status": JobStatus.succeeded, "finished_at": utcnow(), "error": None}
            if failed:
                named = db.exec(
                    select(JobItem)
                    .where(JobItem.job_id == job_id, JobItem.status == JobStatus.failed)
                    .order_by(col(JobItem.id))
                    .limit(_FAILED_NAMED)
                ).all()
                detail = "; ".join(f"{i.key}: {i.error}" for i in named)
                final.update(status=JobStatus.failed, error=f"{failed} of {total} units failed: {detail}")
            db.exec(sa.update(Job).where(col(Job.id) == job_id, col(Job.status).in_(list(UNFINISHED))).values(final))
        row = db.get(Job, job_id, populate_existing=True)
        if row is None:
            raise StoreError(f"job {job_id} does not exist")
        return row


# --------------------------------------------------------------------------------------------------
# Checkpoint audits
# --------------------------------------------------------------------------------------------------


def create_checkpoint_audit(
    engine: Engine, *, model: str, checkpoint: str, kind: str, params: dict[str, Any]
) -> int | None:
    """Insert a queued audit Job and its `AuditRun` in one transaction; the job's id, or None when
    (model, checkpoint, kind) already has its audit (the unique key refused the row; nothing stays)."""
    try:
        with session(engine, write=True) as db:
            job = Job(kind=JobKind.audit, params=dict(params))
            db.add(job)
            db.flush()
            db.add(AuditRun(model=model, checkpoint=checkpoint, kind=kind, job_id=job.id))
            db.flush()
            return job.id
    except ConstraintError:
        return None


# --------------------------------------------------------------------------------------------------
# Explained units
# --------------------------------------------------------------------------------------------------


def explained_units(engine: Engine, model_names: Sequence[str]) -> list[str]:
    """Addresses of the units of the model stored under any of ``model_names`` that have at least one
    stored explanation (unordered, each once)."""
    query = (
        select(Subject.address)
        .join(ModelRecord, col(Subject.model_id) == col(ModelRecord.id))
        .join(Explanation, col(Explanation.subject_id) == col(Subject.id))
        .where(col(ModelRecord.name).in_(list(model_names)))
        .distinct()
    )
    with session(engine) as db:
        return list(db.exec(query).all())


def latest_labels(engine: Engine, model_names: Sequence[str], addresses: Sequence[str]) -> dict[str, str]:
    """The newest stored label of each of ``addresses`` of the model stored under any of
    ``model_names`` (units without one are left out)."""
    if not addresses:
        return {}
    query = (
        select(Subject.address, Explanation.label)
        .join(ModelRecord, col(Subject.model_id) == col(ModelRecord.id))
        .join(Explanation, col(Explanation.subject_id) == col(Subject.id))
        .where(col(ModelRecord.name).in_(list(model_names)), col(Subject.address).in_(list(addresses)))
        .order_by(col(Explanation.created_at), col(Explanation.id))
    )
    with session(engine) as db:
        return dict(db.exec(query).all())  # later rows (newer) win
