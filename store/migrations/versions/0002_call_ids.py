"""Call ids on experiments, hypotheses and evidence: a resumed investigation replays a tool call
without writing its rows twice.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

``call_id`` is the id the LLM (or the builtin policy) gave the tool call; it is unique per
investigation for experiments and hypotheses, and per (call, experiment) for evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable ``call_id`` columns and their unique keys."""
    with op.batch_alter_table("experiment") as batch:
        batch.add_column(sa.Column("call_id", sa.String(), nullable=True))
        batch.create_unique_constraint(op.f("uq_experiment_investigation_id_call_id"), ["investigation_id", "call_id"])
    with op.batch_alter_table("hypothesis") as batch:
        batch.add_column(sa.Column("call_id", sa.String(), nullable=True))
        batch.create_unique_constraint(op.f("uq_hypothesis_investigation_id_call_id"), ["investigation_id", "call_id"])
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("call_id", sa.String(), nullable=True))
        batch.create_unique_constraint(op.f("uq_evidence_call_id_experiment_id"), ["call_id", "experiment_id"])


def downgrade() -> None:
    """Remove the ``call_id`` columns and their unique keys."""
    for table, key in (
        ("evidence", "uq_evidence_call_id_experiment_id"),
        ("hypothesis", "uq_hypothesis_investigation_id_call_id"),
        ("experiment", "uq_experiment_investigation_id_call_id"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(key), type_="unique")
            batch.drop_column("call_id")
