"""Leases as columns: ``lease_owner``, ``leased_at`` and ``sent_at`` on ``job`` and ``job_item``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Until 0003 a lease lived inside JSON: an audit, eval or investigate job's under the reserved key
``_lease`` of ``job.params`` (``{"owner", "claimed_at", "resent_at"}`` while running,
``{"enqueued_at"}`` while queued), a label item's in ``job_item.result`` (``{"owner",
"claimed_at"}`` / ``{"enqueued_at"}``), times in epoch seconds. The upgrade moves every unfinished
row's lease into the new columns and out of the JSON, so a job that was running before it is still
claimed and swept by the same rules after it (a running service job without a lease gets its
``started_at`` as ``leased_at``, the age the old code gave it). The downgrade writes the columns back
into the JSON before dropping them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The reserved key of ``job.params`` that held a job's lease before this revision.
LEASE_KEY = "_lease"
#: The job kinds that were claimed with a lease in ``job.params`` (label jobs are claimed per item).
LEASED_KINDS = ("audit", "eval", "investigate")
UNFINISHED = ("queued", "running")

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)

# Lightweight tables: only the columns the data copy reads and writes, as of this revision.
job = sa.table(
    "job",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("status", sa.String()),
    sa.column("params", _JSON),
    sa.column("created_at", _TIME),
    sa.column("started_at", _TIME),
    sa.column("lease_owner", sa.String()),
    sa.column("leased_at", _TIME),
    sa.column("sent_at", _TIME),
)
job_item = sa.table(
    "job_item",
    sa.column("id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("result", _JSON),
    sa.column("lease_owner", sa.String()),
    sa.column("leased_at", _TIME),
    sa.column("sent_at", _TIME),
)


def _lease_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("leased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    ]


def _when(epoch: Any) -> datetime | None:
    """An epoch-seconds stamp from the old JSON as an aware UTC datetime (None when absent or bad)."""
    try:
        return datetime.fromtimestamp(float(epoch), UTC) if epoch is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _epoch(value: datetime | None) -> float | None:
    """A column's datetime as epoch seconds (SQLite hands back naive UTC)."""
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


def _newest(*stamps: datetime | None) -> datetime | None:
    present = [s for s in stamps if s is not None]
    return max(present) if present else None


def upgrade() -> None:
    """Add the lease columns, then move every unfinished row's lease out of its JSON into them."""
    for table in ("job", "job_item"):
        with op.batch_alter_table(table) as batch:
            for column in _lease_columns():
                batch.add_column(column)
    conn = op.get_bind()
    _jobs_up(conn)
    _items_up(conn)


def _jobs_up(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(job.c.id, job.c.kind, job.c.status, job.c.params, job.c.started_at).where(
            job.c.status.in_(UNFINISHED)
        )
    ).all()
    for row in rows:
        params = row.params if isinstance(row.params, dict) else {}
        lease = params.get(LEASE_KEY)
        if not isinstance(lease, dict) and not (row.kind in LEASED_KINDS and row.status == "running"):
            continue
        lease = lease if isinstance(lease, dict) else {}
        values: dict[str, Any] = {"params": {k: v for k, v in params.items() if k != LEASE_KEY}}
        if row.status == "running":
            owner = lease.get("owner")
            values["lease_owner"] = str(owner) if owner is not None else None
            values["leased_at"] = _when(lease.get("claimed_at")) or row.started_at
        values["sent_at"] = _newest(_when(lease.get("enqueued_at")), _when(lease.get("resent_at")))
        conn.execute(sa.update(job).where(job.c.id == row.id).values(values))


def _items_up(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(job_item.c.id, job_item.c.status, job_item.c.result).where(job_item.c.status.in_(UNFINISHED))
    ).all()
    for row in rows:
        lease = row.result if isinstance(row.result, dict) else {}
        values: dict[str, Any] = {"result": None, "sent_at": _when(lease.get("enqueued_at"))}
        if row.status == "running":
            owner = lease.get("owner")
            values["lease_owner"] = str(owner) if owner is not None else None
            values["leased_at"] = _when(lease.get("claimed_at"))
        conn.execute(sa.update(job_item).where(job_item.c.id == row.id).values(values))


def downgrade() -> None:
    """Write every unfinished row's lease back into its JSON, then drop the lease columns."""
    conn = op.get_bind()
    _jobs_down(conn)
    _items_down(conn)
    for table in ("job_item", "job"):
        with op.batch_alter_table(table) as batch:
            for name in ("sent_at", "leased_at", "lease_owner"):
                batch.drop_column(name)


def _jobs_down(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(job.c.id, job.c.status, job.c.params, job.c.lease_owner, job.c.leased_at, job.c.sent_at).where(
            job.c.status.in_(UNFINISHED), job.c.kind.in_(LEASED_KINDS)
        )
    ).all()
    for row in rows:
        lease: dict[str, Any] = {}
        sent = _epoch(row.sent_at)
        if row.status == "running":
            if row.lease_owner is not None:
                lease["owner"] = row.lease_owner
            if row.leased_at is not None:
                lease["claimed_at"] = _epoch(row.leased_at)
            if sent is not None:
                lease["resent_at"] = sent
        elif sent is not None:
            lease["enqueued_at"] = sent
        if not lease:
            continue
        params = row.params if isinstance(row.params, dict) else {}
        conn.execute(sa.update(job).where(job.c.id == row.id).values(params={**params, LEASE_KEY: lease}))


def _items_down(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(
            job_item.c.id, job_item.c.status, job_item.c.lease_owner, job_item.c.leased_at, job_item.c.sent_at
        ).where(job_item.c.status.in_(UNFINISHED))
    ).all()
    for row in rows:
        if row.status == "running":
            result: dict[str, Any] = {"owner": row.lease_owner, "claimed_at": _epoch(row.leased_at) or 0.0}
        else:
            result = {"enqueued_at": _epoch(row.sent_at) or 0.0}
        conn.execute(sa.update(job_item).where(job_item.c.id == row.id).values(result=result))
