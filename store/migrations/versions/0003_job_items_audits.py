"""Job items (one row per unit of a fanned-out job) and audit runs (one per checkpoint and kind).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

``job_item`` makes "every unit labeled exactly once" a property of the store: (job_id, key) is unique,
and a worker claims an item by a conditional update. ``audit_run`` makes "exactly one audit per
(model, checkpoint, audit kind)" a unique constraint, so a duplicate checkpoint event cannot start a
second audit.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``audit_run`` and ``job_item``."""
    op.create_table(
        "audit_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("checkpoint", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_audit_run_job_id_job"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_run")),
        sa.UniqueConstraint("model", "checkpoint", "kind", name=op.f("uq_audit_run_model_checkpoint_kind")),
    )
    op.create_index(op.f("ix_audit_run_job_id"), "audit_run", ["job_id"], unique=False)
    op.create_table(
        "job_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("investigation_id", sa.Integer(), nullable=True),
        sa.Column("result", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["investigation_id"],
            ["investigation.id"],
            name=op.f("fk_job_item_investigation_id_investigation"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_job_item_job_id_job"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_item")),
        sa.UniqueConstraint("job_id", "key", name=op.f("uq_job_item_job_id_key")),
    )
    op.create_index(op.f("ix_job_item_status"), "job_item", ["status"], unique=False)


def downgrade() -> None:
    """Drop ``job_item`` and ``audit_run``."""
    op.drop_index(op.f("ix_job_item_status"), table_name="job_item")
    op.drop_table("job_item")
    op.drop_index(op.f("ix_audit_run_job_id"), table_name="audit_run")
    op.drop_table("audit_run")
