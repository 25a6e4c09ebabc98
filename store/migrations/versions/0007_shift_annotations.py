"""SHIFT annotations: ``shift_annotation`` holds judges' 0–4 scores of SAE latents against concepts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-16

``shift_annotate`` (and the ``shift`` job) asks a judge — the builtin one or an LLM — how related each
SAE latent is to each named concept (gender, nurse, ...) and stores one row per (latent, concept):
the score, the judge, its rationale and the evidence it was shown (marked top contexts, promoted
tokens). A row may name the job that made it; deleting the job keeps the row (job_id set to NULL).
The downgrade drops the table with every annotation.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create ``shift_annotation`` with its job and model indexes."""
    op.create_table(
        "shift_annotation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("sae", sa.String(), nullable=False),
        sa.Column("sae_digest", sa.String(), nullable=True),
        sa.Column("latent", sa.String(), nullable=False),
        sa.Column("latent_index", sa.Integer(), nullable=False),
        sa.Column("concept", sa.String(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("judge", sa.String(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("evidence", _JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_shift_annotation_job_id_job"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shift_annotation")),
    )
    op.create_index(op.f("ix_shift_annotation_job_id"), "shift_annotation", ["job_id"], unique=False)
    op.create_index(op.f("ix_shift_annotation_model"), "shift_annotation", ["model"], unique=False)


def downgrade() -> None:
    """Drop ``shift_annotation`` (every annotation)."""
    op.drop_index(op.f("ix_shift_annotation_model"), table_name="shift_annotation")
    op.drop_index(op.f("ix_shift_annotation_job_id"), table_name="shift_annotation")
    op.drop_table("shift_annotation")
