"""Hyperdimensional probes: ``hd_probe`` holds the trained probes and their metrics.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

``autointerp hdprobe train`` (and the ``hdprobe`` job) trains an encoder from a model's last-token
states of a range of layers into a VSA hypervector space and records it here: one row per trained
probe, with the model's name and weights digest, the layers, the dimension, where the artifact lives
under the cache home, its digest and its metrics. A row may name the job that made it; deleting the
job keeps the row (job_id set to NULL). The downgrade drops the table (the artifacts stay on disk).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create ``hd_probe`` with its job and model-digest indexes."""
    op.create_table(
        "hd_probe",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("model_digest", sa.String(), nullable=False),
        sa.Column("layer_start", sa.Integer(), nullable=False),
        sa.Column("layer_stop", sa.Integer(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("hidden", sa.Integer(), nullable=False),
        sa.Column("n_concepts", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("metrics", _JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_hd_probe_job_id_job"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hd_probe")),
    )
    op.create_index(op.f("ix_hd_probe_job_id"), "hd_probe", ["job_id"], unique=False)
    op.create_index(op.f("ix_hd_probe_model_digest"), "hd_probe", ["model_digest"], unique=False)


def downgrade() -> None:
    """Drop ``hd_probe`` (every record; the artifacts in the cache home are left alone)."""
    op.drop_index(op.f("ix_hd_probe_model_digest"), table_name="hd_probe")
    op.drop_index(op.f("ix_hd_probe_job_id"), table_name="hd_probe")
    op.drop_table("hd_probe")
