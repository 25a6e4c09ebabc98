"""Small typed repository functions: the ways the rest of the service reads and writes the store.

Every function opens its own short session and returns *detached* objects whose attributes stay
loaded, so they can be used after the session is gone. Writes that must be idempotent (model
records, exemplar caches, subjects) survive a race with another process: the loser of a unique-key
race re-reads the winner's row. Database failures raise `StoreError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from store.db import session
from store.errors import ConstraintError, InputError, StoreError
from store.models import (
    CacheStatus,
    ExemplarCacheCreate,
    ExemplarCacheRecord,
    Job,
    JobCreate,
    JobStatus,
    ModelRecord,
    ModelRecordCreate,
    Subject,
    SubjectKind,
    utcnow,
)

__all__ = [
    "create_job",
    "find_exemplar_cache",
    "get_job",
    "get_model_record",
    "get_or_create_subject",
    "list_exemplar_caches",
    "record_exemplar_cache",
    "set_job_status",
    "update_job_progress",
    "upsert_model_record",
]

_Row = TypeVar("_Row")

#: Job statuses after which a job is over (``finished_at`` is set on entering one).
_FINISHED = (JobStatus.succeeded, JobStatus.failed)


def _idempotent_write(engine: Engine, write: Callable[[Session], _Row]) -> _Row:
    """Run ``write`` in a write session; if it loses a unique-key race, run it once more.

    ``write`` must look the row up first, so the second run finds the row the other writer made.
    """
    try:
        with session(engine, write=True) as db:
            return write(db)
    except ConstraintError:
        with session(engine, write=True) as db:
            return write(db)


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


def _select_model(db: Session, name: str, weights_digest: str) -> ModelRecord | None:
    query = select(ModelRecord).where(ModelRecord.name == name, ModelRecord.weights_digest == weights_digest)
    return db.exec(query).first()


def upsert_model_record(engine: Engine, data: ModelRecordCreate) -> ModelRecord:
    """The record of model ``data.name`` with weights ``data.weights_digest``, inserted if new.

    Idempotent on ``(name, weights_digest)``: an existing record is returned unchanged (its first
    source and revision are kept), so every loader of the same weights shares one id.
    """

    def write(db: Session) -> ModelRecord:
        row = _select_model(db, data.name, data.weights_digest)
        if row is None:
            row = ModelRecord(**data.model_dump())
            db.add(row)
            db.flush()
        return row

    return _idempotent_write(engine, write)


def get_model_record(engine: Engine, name: str, weights_digest: str) -> ModelRecord | None:
    """The record of model ``name`` with weights ``weights_digest``, or None if never recorded."""
    with session(engine) as db:
        return _select_model(db, name, weights_digest)


# --------------------------------------------------------------------------------------------------
# Subjects
# --------------------------------------------------------------------------------------------------


def get_or_create_subject(engine: Engine, model_id: int | None, kind: SubjectKind | str, address: str) -> Subject:
    """The subject at ``address`` of model ``model_id`` (None for a suite function), made if new.

    Raises `InputError` for an unknown kind, or when the address is already stored with another kind.
    """
    try:
        subject_kind = SubjectKind(kind)
    except ValueError as exc:
        valid = ", ".join(k.value for k in SubjectKind)
        raise InputError(f"unknown subject kind {kind!r}; expected one of: {valid}") from exc
    if not address:
        raise InputError("a subject address cannot be empty")

    def write(db: Session) -> Subject:
        owner = Subject.model_id == model_id if model_id is not None else col(Subject.model_id).is_(None)
        row = db.exec(select(Subject).where(owner, Subject.address == address)).first()
        if row is None:
            row = Subject(kind=subject_kind, address=address, model_id=model_id)
            db.add(row)
            db.flush()
        elif row.kind != subject_kind:
            raise InputError(f"subject {address!r} is stored as kind {row.kind.value!r}, not {subject_kind.value!r}")
        return row

    return _idempotent_write(engine, write)


# --------------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------------


def create_job(engine: Engine, data: JobCreate) -> Job:
    """Queue a new job (status ``queued``, no progress, no attempts yet) and return it."""
    with session(engine, write=True) as db:
        row = Job(kind=data.kind, params=dict(data.params), progress_total=data.progress_total)
        db.add(row)
        db.flush()
        return row


def get_job(engine: Engine, job_id: int) -> Job | None:
    """The job with id ``job_id``, or None."""
    with session(engine) as db:
        return db.get(Job, job_id)


def _reload_job(db: Session, job_id: int) -> Job:
    row = db.get(Job, job_id, populate_existing=True)
    if row is None:
        raise StoreError(f"job {job_id} does not exist")
    return row


def update_job_progress(
    engine: Engine,
    job_id: int,
    *,
    done: int | None = None,
    advance: int | None = None,
    total: int | None = None,
) -> Job:
    """Record progress of job ``job_id`` and return the job as stored afterwards.

    ``done`` sets the number of finished steps; ``advance`` adds to it atomically in the database
    (safe when many workers report on one job at once); ``total`` sets the number of steps. Raises
    `StoreError` when the job does not exist, ValueError for a negative count or both ``done``
    and ``advance``.
    """
    if done is not None and advance is not None:
        raise ValueError("give done or advance, not both")
    for name, value in (("done", done), ("advance", advance), ("total", total)):
        if value is not None and value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    values: dict[str, object] = {}
    if done is not None:
        values["progress_done"] = done
    if advance:
        values["progress_done"] = col(Job.progress_done) + advance
    if total is not None:
        values["progress_total"] = total
    with session(engine, write=True) as db:
        if values:
            db.exec(sa.update(Job).where(col(Job.id) == job_id).values(values))
        return _reload_job(db, job_id)


def set_job_status(engine: Engine, job_id: int, status: JobStatus, *, error: str | None = None) -> Job:
    """Move job ``job_id`` to ``status`` and return it.

    Entering ``running`` counts an attempt, stamps ``started_at`` and clears a previous error and
    ``finished_at``; entering ``succeeded`` or ``failed`` stamps ``finished_at``. ``error`` is stored
    as given (use it with ``failed``). Raises `StoreError` when the job does not exist.
    """
    status = JobStatus(status)
    now = utcnow()
    values: dict[str, object] = {"status": status}
    if status is JobStatus.running:
        values.update(attempts=col(Job.attempts) + 1, started_at=now, finished_at=None, error=error)
    elif status in _FINISHED:
        values.update(finished_at=now, error=error)
    elif error is not None:
        values["error"] = error
    with session(engine, write=True) as db:
        db.exec(sa.update(Job).where(col(Job.id) == job_id).values(values))
        return _reload_job(db, job_id)


# --------------------------------------------------------------------------------------------------
# Exemplar caches
# --------------------------------------------------------------------------------------------------


def _exemplar_key(data: ExemplarCacheCreate) -> list[sa.ColumnElement[bool]]:
    return [
        col(ExemplarCacheRecord.model_id) == data.model_id,
        col(ExemplarCacheRecord.site) == data.site,
        col(ExemplarCacheRecord.corpus_digest) == data.corpus_digest,
        col(ExemplarCacheRecord.ctx_len) == data.ctx_len,
        col(ExemplarCacheRecord.n_tokens) == data.n_tokens,
        col(ExemplarCacheRecord.k) == data.k,
    ]


def record_exemplar_cache(engine: Engine, data: ExemplarCacheCreate) -> ExemplarCacheRecord:
    """Index an exemplar cache file; idempotent on (model, site, corpus digest, ctx_len, n_tokens, k).

    When the key is already indexed, its ``path``, ``digest``, ``corpus`` and ``status`` are
    replaced (a rebuilt or moved file) and the same row is returned. Raises `ConstraintError` when
    ``data.model_id`` names no model record.
    """

    def write(db: Session) -> ExemplarCacheRecord:
        row = db.exec(select(ExemplarCacheRecord).where(*_exemplar_key(data))).first()
        if row is None:
            row = ExemplarCacheRecord(**data.model_dump())
        else:
            row.path, row.digest, row.corpus, row.status = data.path, data.digest, data.corpus, data.status
        db.add(row)
        db.flush()
        return row

    return _idempotent_write(engine, write)


def find_exemplar_cache(
    engine: Engine,
    model_id: int,
    site: str,
    *,
    corpus_digest: str | None = None,
    ctx_len: int | None = None,
    n_tokens: int | None = None,
    k: int | None = None,
    status: CacheStatus | None = CacheStatus.complete,
) -> ExemplarCacheRecord | None:
    """The newest cache of ``site`` of model ``model_id`` matching every filter given, or None.

    Omitted filters match anything. Only complete caches are found unless ``status`` says
    otherwise (None: any status).
    """
    query = select(ExemplarCacheRecord).where(
        ExemplarCacheRecord.model_id == model_id, ExemplarCacheRecord.site == site
    )
    filters = {"corpus_digest": corpus_digest, "ctx_len": ctx_len, "n_tokens": n_tokens, "k": k}
    for name, value in filters.items():
        if value is not None:
            query = query.where(getattr(ExemplarCacheRecord, name) == value)
    if status is not None:
        query = query.where(ExemplarCacheRecord.status == status)
    query = query.order_by(col(ExemplarCacheRecord.created_at).desc(), col(ExemplarCacheRecord.id).desc())
    with session(engine) as db:
        return db.exec(query.limit(1)).first()


def list_exemplar_caches(engine: Engine, model_id: int | None = None) -> list[ExemplarCacheRecord]:
    """Every indexed exemplar cache (of model ``model_id`` when given), oldest first."""
    query = select(ExemplarCacheRecord)
    if model_id is not None:
        query = query.where(ExemplarCacheRecord.model_id == model_id)
    with session(engine) as db:
        return list(db.exec(query.order_by(col(ExemplarCacheRecord.id))).all())
