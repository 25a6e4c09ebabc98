"""Uploaded suites: ``stored_suite`` holds FIND-style suites sent to ``POST /suites``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

The API reads suite files only from its data roots; anything else a client wants to run is uploaded
and kept here (JSON Lines as uploaded, size-capped by the API), addressed as ``suite:<name>``. Names
are unique and rows are never updated. The downgrade drops the table with every uploaded suite.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``stored_suite``."""
    op.create_table(
        "stored_suite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_suite")),
        sa.UniqueConstraint("name", name=op.f("uq_stored_suite_name")),
    )


def downgrade() -> None:
    """Drop ``stored_suite`` (and every uploaded suite with it)."""
    op.drop_table("stored_suite")
