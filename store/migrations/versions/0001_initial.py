"""Initial schema: models, subjects, jobs, investigations and their evidence, explanations, scores.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Written out by hand (checked against autogenerate): the column types are spelled here, not imported
from `store.models`, so this revision keeps meaning the same schema when the models change.
Enumerations are VARCHAR(32); timestamps are timezone-aware; JSON is JSONB on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _text(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(), nullable=nullable)


def _long_text(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _enum(name: str) -> sa.Column:
    return sa.Column(name, sa.String(length=32), nullable=False)


def _json(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=nullable)


def _time(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _int(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def _float(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Float(), nullable=nullable)


def _fk(column: str, target: str, table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def _index(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns), unique=False)


def upgrade() -> None:
    """Create every table of the first schema."""
    op.create_table(
        "job",
        _id(),
        _enum("kind"),
        _enum("status"),
        _json("params"),
        _int("progress_done"),
        _int("progress_total", nullable=True),
        _int("attempts"),
        _long_text("error", nullable=True),
        _time("created_at"),
        _time("started_at", nullable=True),
        _time("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    _index("job", "kind")
    _index("job", "status")

    op.create_table(
        "model_record",
        _id(),
        _text("name"),
        _text("source"),
        _text("revision", nullable=True),
        _text("checkpoint", nullable=True),
        _text("config_digest", nullable=True),
        _text("weights_digest"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_record")),
        sa.UniqueConstraint("name", "weights_digest", name=op.f("uq_model_record_name_weights_digest")),
    )
    _index("model_record", "name")

    op.create_table(
        "exemplar_cache",
        _id(),
        _int("model_id"),
        _text("site"),
        _text("corpus"),
        _text("corpus_digest"),
        _int("ctx_len"),
        _int("n_tokens"),
        _int("k"),
        _text("path"),
        _text("digest"),
        _enum("status"),
        _time("created_at"),
        _fk("model_id", "model_record", "exemplar_cache", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exemplar_cache")),
        sa.UniqueConstraint(
            "model_id", "site", "corpus_digest", "ctx_len", "n_tokens", "k", name="uq_exemplar_cache_key"
        ),
    )

    op.create_table(
        "subject",
        _id(),
        _enum("kind"),
        _text("address"),
        _int("model_id", nullable=True),
        _time("created_at"),
        _fk("model_id", "model_record", "subject", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject")),
        sa.UniqueConstraint("model_id", "address", name=op.f("uq_subject_model_id_address")),
    )
    op.create_index(
        "uq_subject_address_without_model",
        "subject",
        ["address"],
        unique=True,
        sqlite_where=sa.text("model_id IS NULL"),
        postgresql_where=sa.text("model_id IS NULL"),
    )

    op.create_table(
        "ground_truth",
        _id(),
        _int("subject_id"),
        _text("suite"),
        _json("spec"),
        _time("created_at"),
        _fk("subject_id", "subject", "ground_truth", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ground_truth")),
        sa.UniqueConstraint("subject_id", "suite", name=op.f("uq_ground_truth_subject_id_suite")),
    )

    op.create_table(
        "investigation",
        _id(),
        _int("job_id", nullable=True),
        _int("subject_id"),
        _text("backend"),
        _text("thread_id", nullable=True),
        _json("budget"),
        _int("tool_calls"),
        _int("tokens"),
        _float("cost"),
        _float("seconds"),
        _enum("status"),
        _time("created_at"),
        _time("finished_at", nullable=True),
        _fk("job_id", "job", "investigation", "SET NULL"),
        _fk("subject_id", "subject", "investigation", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigation")),
    )
    _index("investigation", "job_id")
    _index("investigation", "subject_id")
    _index("investigation", "thread_id")

    op.create_table(
        "experiment",
        _id(),
        _int("investigation_id"),
        _text("tool"),
        _json("args"),
        _json("result_summary", nullable=True),
        _text("artifact_path", nullable=True),
        _float("seconds"),
        _text("cache_key", nullable=True),
        _time("created_at"),
        _fk("investigation_id", "investigation", "experiment", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment")),
    )
    _index("experiment", "cache_key")
    _index("experiment", "investigation_id")

    op.create_table(
        "explanation",
        _id(),
        _int("subject_id"),
        _int("investigation_id", nullable=True),
        _text("label"),
        _long_text("description"),
        _long_text("code", nullable=True),
        _json("domain", nullable=True),
        _float("confidence"),
        _json("evidence"),
        _time("created_at"),
        _fk("investigation_id", "investigation", "explanation", "SET NULL"),
        _fk("subject_id", "subject", "explanation", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_explanation")),
    )
    _index("explanation", "investigation_id")
    _index("explanation", "subject_id")

    op.create_table(
        "hypothesis",
        _id(),
        _int("investigation_id"),
        _long_text("text"),
        _enum("status"),
        _float("confidence", nullable=True),
        _time("created_at"),
        _fk("investigation_id", "investigation", "hypothesis", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hypothesis")),
    )
    _index("hypothesis", "investigation_id")

    op.create_table(
        "evidence",
        _id(),
        _int("hypothesis_id"),
        _int("experiment_id"),
        sa.Column("supports", sa.Boolean(), nullable=False),
        _float("weight"),
        _long_text("note", nullable=True),
        _time("created_at"),
        _fk("experiment_id", "experiment", "evidence", "CASCADE"),
        _fk("hypothesis_id", "hypothesis", "evidence", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
    )
    _index("evidence", "experiment_id")
    _index("evidence", "hypothesis_id")

    op.create_table(
        "score",
        _id(),
        _int("explanation_id"),
        _text("metric"),
        _float("value"),
        _json("details"),
        _time("created_at"),
        _fk("explanation_id", "explanation", "score", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score")),
    )
    _index("score", "explanation_id")
    _index("score", "metric")


def downgrade() -> None:
    """Drop every table (children first; their indexes go with them)."""
    for table in (
        "score",
        "evidence",
        "hypothesis",
        "explanation",
        "experiment",
        "investigation",
        "ground_truth",
        "subject",
        "exemplar_cache",
        "model_record",
        "job",
    ):
        op.drop_table(table)
