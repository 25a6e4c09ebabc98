"""Engines for the store's URLs: SQLite and PostgreSQL settings, and a connection check.

SQLite engines get three connection settings: foreign keys enforced (as on PostgreSQL), SQLAlchemy
emits ``BEGIN`` itself so that DDL and reads are transactional (the ``sqlite3`` module's legacy mode
would autocommit migrations statement by statement), and a connection can ask for ``BEGIN
IMMEDIATE`` (``SQLITE_BEGIN_OPTION``: ``session(engine, write=True)``, migrations) to take the
write lock up front. PostgreSQL engines get a 5 s connect timeout (unless the URL sets one) and a
pre-ping. Both write JSON columns as strict JSON: a non-finite float becomes the string ``"NaN"``,
``"Infinity"`` or ``"-Infinity"`` (`store.jsonsafe`), never a ``NaN`` token PostgreSQL refuses.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

from store.dburl import mask_url, one_line, parse_url, sqlite_file
from store.errors import DatabaseURLError, StoreError
from store.jsonsafe import encode_nonfinite

__all__ = ["CONNECT_TIMEOUT_S", "SQLITE_BEGIN_OPTION", "check_connection", "create_store_engine"]

#: Seconds to wait for a PostgreSQL server before giving up (a dead host fails fast).
CONNECT_TIMEOUT_S = 5

#: Execution option read by the SQLite ``begin`` hook: "IMMEDIATE" or "EXCLUSIVE" (default deferred).
SQLITE_BEGIN_OPTION = "autointerp_sqlite_begin"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN (see _sqlite_begin) instead of the sqlite3 module's legacy mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "")
    connection.exec_driver_sql(f"BEGIN {mode}" if mode in ("IMMEDIATE", "EXCLUSIVE") else "BEGIN")


def _json_serializer(value: Any) -> str:
    """How JSON columns are written: strict JSON, non-finite floats as the strings of `store.jsonsafe`
    (``json.dumps`` would write ``NaN``, which PostgreSQL refuses and other readers choke on)."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(encode_nonfinite(value), allow_nan=False)


def _engine_kwargs(url: URL) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"json_serializer": _json_serializer}
    if url.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
        if url.get_driver_name() in ("psycopg", "psycopg2") and "connect_timeout" not in url.query:
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    return kwargs


def create_store_engine(url: str | URL) -> Engine:
    """Create (not cache, not check, not migrate) an engine for ``url`` with the store's settings.

    For a SQLite file the parent folder is created. Raises `DatabaseURLError` for a malformed URL or
    a driver that is not installed, `StoreError` when the SQLite folder cannot be created.
    """
    parsed = parse_url(url)
    masked = mask_url(parsed)
    path = sqlite_file(parsed)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = exc.strerror or one_line(exc)
            raise StoreError(
                f"cannot connect to database {masked}: cannot create folder {path.parent} ({reason})"
            ) from exc
    try:
        engine = sa.create_engine(parsed, **_engine_kwargs(parsed))
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseURLError(
            f"cannot connect to database {masked}: unknown or uninstalled database driver "
            f"{parsed.drivername!r} ({one_line(exc)})"
        ) from exc
    except (SQLAlchemyError, ValueError, TypeError) as exc:
        raise DatabaseURLError(f"cannot connect to database {masked}: {one_line(exc)}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def check_connection(engine: Engine) -> None:
    """Connect once and read something; raise a one-line `StoreError` naming the (masked) URL if not.

    On SQLite this reads the file header, so a file that is not a database is caught here.
    """
    probe = "PRAGMA schema_version" if engine.dialect.name == "sqlite" else "SELECT 1"
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(probe)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(
            f"cannot connect to database {mask_url(engine.url)}: "
            f"{one_line(exc, secret=engine.url.password and str(engine.url.password))}"
        ) from exc
