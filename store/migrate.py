"""Alembic migrations in code: no ``alembic.ini``; the scripts live in ``store/migrations``.

Each upgrade or downgrade runs in a single transaction on a connection of the caller's engine, so a
failure leaves the database as it was (SQLite included: DDL is transactional there too). On SQLite
foreign keys are switched off for the duration, because batch migrations copy and drop tables; the
transaction starts with ``BEGIN IMMEDIATE`` so two processes cannot migrate at once. On PostgreSQL a
transaction-scoped advisory lock does the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from store.dburl import mask_url, one_line
from store.engine import SQLITE_BEGIN_OPTION
from store.errors import StoreError

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "migration_connection",
    "upgrade",
]

#: The Alembic script folder (env.py, script.py.mako, versions/).
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock held while migrating (any fixed 64-bit number will do).
_PG_MIGRATION_LOCK = 0x61_75_74_6F_69_6E_74  # "autoint"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the store's migrations, optionally bound to an open connection.

    With a connection, ``env.py`` runs the migrations on it, inside the caller's transaction.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows (what ``upgrade`` brings a database to)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001_initial
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty, never migrated database)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        masked = mask_url(engine.url)
        raise StoreError(f"cannot read schema revision of database {masked}: {one_line(exc)}") from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database's schema up to ``revision`` (default: the newest), atomically."""
    _run(engine, "upgrade", revision, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Take the database's schema down to ``revision`` (default ``base``: no tables), atomically.

    Downgrading drops tables and their rows; it is meant for development and tests.
    """
    _run(engine, "downgrade", revision, lambda config: command.downgrade(config, revision))


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection of ``engine`` inside one transaction, set up for migrating; commits at the end.

    SQLite: foreign keys off for the duration (batch migrations copy and drop tables; with them on,
    dropping a parent would cascade into its children) and ``BEGIN IMMEDIATE`` (one migrator at a
    time). PostgreSQL: a transaction-scoped advisory lock (one migrator at a time).
    """
    if engine.dialect.name != "sqlite":
        with engine.connect() as conn, conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            yield conn
        return
    with engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}).connect() as conn:
        # PRAGMA foreign_keys is a no-op inside a transaction: set it on the raw connection first.
        raw = conn.connection.dbapi_connection
        assert raw is not None  # a fresh pooled connection always has one
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                yield conn
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def _run(engine: Engine, verb: str, revision: str, action: Callable[[Config], None]) -> None:
    masked = mask_url(engine.url)
    try:
        with migration_connection(engine) as conn:
            action(alembic_config(conn))
    except CommandError as exc:
        hint = ""
        if "Can't locate revision" in str(exc):
            hint = " (the database was migrated by a newer autointerp, or the revision is mistyped)"
        raise StoreError(f"cannot {verb} database {masked} to {revision}: {one_line(exc)}{hint}") from exc
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"cannot {verb} database {masked} to {revision}: {one_line(exc)}") from exc
