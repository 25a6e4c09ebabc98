"""Registered SAEs: ``sae_record`` holds the sparse autoencoders whose latents are subjects.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12

``autointerp sae add`` reads an SAE folder (SAELens or sparsify), checks it against the model, copies
it into the cache home and records it here: one row per (model record, name), with its site, shape,
digests, where the copy lives and the folder it came from, its cfg and training metrics. A deleted
model record takes its SAEs with it. The downgrade drops the table with every registration (the
copies in the cache home stay where they are).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create ``sae_record``."""
    op.create_table(
        "sae_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("layer", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(), nullable=False),
        sa.Column("hook", sa.String(), nullable=True),
        sa.Column("format", sa.String(), nullable=False),
        sa.Column("architecture", sa.String(), nullable=False),
        sa.Column("d_in", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("k", sa.Integer(), nullable=True),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("weights_digest", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("source_path", sa.String(), nullable=False),
        sa.Column("cfg", _JSON, nullable=False),
        sa.Column("metrics", _JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["model_record.id"], name=op.f("fk_sae_record_model_id_model_record"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sae_record")),
        sa.UniqueConstraint("model_id", "name", name=op.f("uq_sae_record_model_id_name")),
    )


def downgrade() -> None:
    """Drop ``sae_record`` (every registration; the copies in the cache home are left alone)."""
    op.drop_table("sae_record")
