"""The fenced claim: how exactly one worker takes a label item (a `JobItem`) or an audit, eval or
investigate job (a `Job`). One protocol for both tables, the same on SQLite and PostgreSQL.

**The lease** is three columns of the row (``store.models``): ``lease_owner`` (the holder's Celery
task id, or a ``local-…`` id in-process), ``leased_at`` (when the holder claimed it) and ``sent_at``
(when a message for the row was last sent). A row holds a lease only while it is ``running``.

**Claiming** (`claim_item`, `claim_job`) reads the row and then:

- skips it when it is finished, gone, not claimable (a label job is claimed per item, never whole),
  or ``running`` under another owner whose lease is younger than ``stale_after`` (the visibility
  timeout, which exceeds the hard time limit: a lease that old has no live holder);
- re-claims it when the owner is the *same* task id (Celery redelivers a message under its task id
  after the worker died, thanks to late acks and reject-on-worker-lost, and a task retried after a
  database error keeps its id) or the lease is stale;
- poisons it (``failed`` with a one-line ``poisoned: …`` error) when it was already claimed
  ``max_attempts`` times, instead of trying again;
- otherwise moves it to ``running``, bumps ``attempts`` and records the lease, with one UPDATE
  conditioned on the ``(status, attempts)`` it read (optimistic concurrency: of two racing claimers
  exactly one changes the row; the other gets ``skipped``).

**Fencing.** Every later write of the holder (`finish_item`, `release_item`, `record_investigation`,
`finish_job`) is conditioned on ``status = running`` and ``attempts`` = the claim's attempt, so a
holder whose row was taken over (a stale lease re-claimed) can never overwrite the newer attempt's
work; the write reports False instead. Finishing or releasing drops the lease.

**Sweeping.** Beat's sweep re-sends a queued or running row whose newest of ``created_at``,
``leased_at`` and ``sent_at`` (`last_sent`) is older than ``stale_after`` and stamps ``sent_at``
(`stamp_sent`), so it waits a full period before sending again; the claim makes a duplicate message
harmless.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import col

from store.db import session
from store.jobs import FINISHED, UNFINISHED, refresh_job_progress
from store.models import Job, JobItem, JobKind, JobStatus, utcnow

__all__ = [
    "SERVICE_KINDS",
    "Claim",
    "ClaimOutcome",
    "claim_item",
    "claim_job",
    "finish_item",
    "finish_job",
    "is_due",
    "last_sent",
    "lease_is_live",
    "record_investigation",
    "release_item",
    "stamp_sent",
]

log = logging.getLogger("autointerp.workers")

#: The job kinds claimed as a whole (label jobs are claimed per item).
SERVICE_KINDS = (JobKind.audit, JobKind.eval, JobKind.shift, JobKind.hdprobe, JobKind.investigate)

#: A table whose rows are claimed: a job's items, or jobs.
Row = TypeVar("Row", Job, JobItem)

#: The lease columns cleared when a row stops running.
_NO_LEASE: dict[str, Any] = {"lease_owner": None, "leased_at": None}


class ClaimOutcome(enum.StrEnum):
    """What a claim attempt did."""

    claimed = "claimed"  # the caller holds the row now
    skipped = "skipped"  # finished, gone, not claimable, held by a live owner, or taken meanwhile
    poisoned = "poisoned"  # claimed max_attempts times already: now failed


@dataclass(frozen=True)
class Claim(Generic[Row]):
    """A held claim: the row as the claim left it, its owner, and the attempt that fences its writes."""

    row: Row
    owner: str
    attempt: int

    @property
    def id(self) -> int:
        """The claimed row's id."""
        assert self.row.id is not None
        return self.row.id

    @property
    def job_id(self) -> int:
        """The job the claimed row is, or belongs to."""
        if isinstance(self.row, JobItem):
            return self.row.job_id
        return self.id


# --------------------------------------------------------------------------------------------------
# Lease ages
# --------------------------------------------------------------------------------------------------


def lease_is_live(row: Job | JobItem, owner: str, stale_after: float, now: datetime) -> bool:
    """True when another owner than ``owner`` holds the running row under a lease younger than
    ``stale_after`` seconds (a row without a lease time counts as stale)."""
    if row.lease_owner == owner or row.leased_at is None:
        return False
    return (now - row.leased_at).total_seconds() < stale_after


def last_sent(row: Job | JobItem) -> datetime:
    """When a message for the row was last sent or taken: the newest of its creation, claim and send."""
    return max(t for t in (row.created_at, row.leased_at, row.sent_at) if t is not None)


def is_due(row: Job | JobItem, stale_after: float, now: datetime) -> bool:
    """True when the sweep should send the row again: nothing sent or claimed for ``stale_after`` s."""
    return (now - last_sent(row)).total_seconds() > stale_after


def stamp_sent(engine: Engine, table: type[Job] | type[JobItem], ids: Sequence[int]) -> None:
    """Record that messages for the unfinished rows ``ids`` of ``table`` were (re-)sent now."""
    if not ids:
        return
    with session(engine, write=True) as db:
        db.exec(
            sa.update(table)
            .where(col(table.id).in_(list(ids)), col(table.status).in_(list(UNFINISHED)))
            .values(sent_at=utcnow())
        )


# --------------------------------------------------------------------------------------------------
# Claiming
# --------------------------------------------------------------------------------------------------


def _claim(
    table: type[Row],
    engine: Engine,
    row_id: int,
    *,
    owner: str,
    max_attempts: int,
    stale_after: float,
    claimable: Callable[[Row], bool],
    on_claim: Callable[[datetime], dict[str, Any]],
    poison: Callable[[Row], dict[str, Any]],
) -> tuple[ClaimOutcome, Row | None]:
    """The protocol of the module docstring on ``table``: the outcome, and the row as left by a
    claim or a poisoning (None when skipped). ``on_claim(now)`` gives further columns a claim sets;
    ``poison(row)`` the columns (an ``error`` at least) a poisoning sets."""
    now = utcnow()
    with session(engine, write=True) as db:
        row = db.get(table, row_id)
        if row is None or row.status in FINISHED or not claimable(row):
            return ClaimOutcome.skipped, None
        if row.status is JobStatus.running and lease_is_live(row, owner, stale_after, now):
            return ClaimOutcome.skipped, None
        status, attempts = row.status, row.attempts
        fence = [col(table.id) == row_id, col(table.status) == status, col(table.attempts) == attempts]
        if attempts >= max_attempts:
            outcome = ClaimOutcome.poisoned
            values = {"status": JobStatus.failed, "finished_at": now, **_NO_LEASE, **poison(row)}
        else:
            outcome = ClaimOutcome.claimed
            values = {
                "status": JobStatus.running,
                "attempts": attempts + 1,
                "lease_owner": owner,
                "leased_at": now,
                **on_claim(now),
            }
        if db.exec(sa.update(table).where(*fence).values(values)).rowcount != 1:
            return ClaimOutcome.skipped, None  # another claimer changed the row since it was read
        return outcome, db.get(table, row_id, populate_existing=True)


def claim_item(
    engine: Engine, item_id: int, *, owner: str, max_attempts: int, stale_after: float
) -> tuple[ClaimOutcome, Claim[JobItem] | None]:
    """Try to take label item ``item_id`` for ``owner`` (see the module docstring).

    ("claimed", claim), ("skipped", None) or ("poisoned", None); a poisoning recounts the job's
    progress (and finishes the job when it was the last item).
    """

    def poison(row: JobItem) -> dict[str, Any]:
        last = f" (last error: {row.error})" if row.error else ""
        return {"result": None, "error": f"poisoned: gave up on {row.key} after {row.attempts} attempts{last}"}

    outcome, row = _claim(
        JobItem,
        engine,
        item_id,
        owner=owner,
        max_attempts=max_attempts,
        stale_after=stale_after,
        claimable=lambda _row: True,
        on_claim=lambda _now: {},
        poison=poison,
    )
    if row is None or outcome is not ClaimOutcome.claimed:
        if row is not None:
            refresh_job_progress(engine, row.job_id)
        return outcome, None
    return outcome, Claim(row=row, owner=owner, attempt=row.attempts)


def claim_job(
    engine: Engine, job_id: int, *, owner: str, stale_after: float, max_attempts: int
) -> tuple[ClaimOutcome, Claim[Job] | None]:
    """Try to take audit, eval or investigate job ``job_id`` for ``owner`` (see the module docstring).

    ("claimed", claim); ("skipped", None) also for a label job or a job of another kind;
    ("poisoned", None) when it had used up ``max_attempts`` and is now failed. A claim stamps
    ``started_at`` and clears an earlier try's error.
    """

    def poison(row: Job) -> dict[str, Any]:
        return {
            "error": (
                f"poisoned: gave up on {row.kind.value} job {row.id} after {row.attempts} attempts "
                "(every try was cut short: its worker died or lost the database)"
            )
        }

    outcome, row = _claim(
        Job,
        engine,
        job_id,
        owner=owner,
        max_attempts=max_attempts,
        stale_after=stale_after,
        claimable=lambda row: row.kind in SERVICE_KINDS,
        on_claim=lambda now: {"started_at": now, "finished_at": None, "error": None},
        poison=poison,
    )
    if row is None or outcome is not ClaimOutcome.claimed:
        return outcome, None
    return outcome, Claim(row=row, owner=owner, attempt=row.attempts)


# --------------------------------------------------------------------------------------------------
# Fenced writes of the holder
# --------------------------------------------------------------------------------------------------


def _fenced_update(engine: Engine, claim: Claim[Any], values: dict[str, Any]) -> bool:
    """UPDATE the claimed row with ``values`` only while ``claim`` still holds it; True if it did."""
    table: type[Job] | type[JobItem] = type(claim.row)
    with session(engine, write=True) as db:
        changed = db.exec(
            sa.update(table)
            .where(
                col(table.id) == claim.id,
                col(table.status) == JobStatus.running,
                col(table.attempts) == claim.attempt,
            )
            .values(values)
        ).rowcount
    return changed == 1


def record_investigation(engine: Engine, claim: Claim[JobItem], investigation_id: int) -> bool:
    """Record the investigation labeling the claimed item (a retry continues it); False if fenced out."""
    return _fenced_update(engine, claim, {"investigation_id": investigation_id})


def finish_item(
    engine: Engine, claim: Claim[JobItem], *, result: dict[str, Any] | None = None, error: str | None = None
) -> bool:
    """Mark the claimed item succeeded (``result``) or failed (``error``), drop its lease and recount
    the job's progress. False (and nothing written) when a newer claim took the item over."""
    status = JobStatus.failed if error is not None else JobStatus.succeeded
    done = _fenced_update(
        engine, claim, {"status": status, "result": result, "error": error, "finished_at": utcnow(), **_NO_LEASE}
    )
    refresh_job_progress(engine, claim.job_id)
    return done


def release_item(engine: Engine, claim: Claim[JobItem], error: str) -> bool:
    """Put the claimed item back in the queue after a failed try (its attempts stay counted; the
    caller's task is retried, which counts as sending it now)."""
    return _fenced_update(engine, claim, {"status": JobStatus.queued, "error": error, "sent_at": utcnow(), **_NO_LEASE})


def finish_job(engine: Engine, claim: Claim[Job], *, error: str | None = None) -> bool:
    """Mark the claimed job succeeded (or failed with the one-line ``error``) and drop its lease.

    False (and nothing written) when a newer claim took the job over.
    """
    status = JobStatus.failed if error is not None else JobStatus.succeeded
    done = _fenced_update(engine, claim, {"status": status, "finished_at": utcnow(), "error": error, **_NO_LEASE})
    if not done:
        log.warning("job %s: attempt %s was taken over; its outcome is not recorded", claim.id, claim.attempt)
    return done
