"""Opening the store: one engine per URL per process (checked and migrated on first use), and sessions.

How engines are made (SQLite and PostgreSQL settings) is ``store.engine``; migrations are
``store.migrate``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from store.dburl import mask_url, one_line, parse_url
from store.engine import SQLITE_BEGIN_OPTION, check_connection, create_store_engine
from store.errors import ConstraintError, StoreError
from store.migrate import upgrade
from store.settings import Settings

__all__ = [
    "EngineCache",
    "dispose_engines",
    "engines",
    "open_store",
    "session",
]


@dataclass
class _Entry:
    engine: Engine
    migrated: bool


class EngineCache:
    """The process's open engines, one per database URL.

    An engine owns a connection pool, so making one per call would leak pools and connections;
    every `open_store` on the same URL therefore shares one. Entries are added only once the
    database answered (and was migrated, when asked), so a failed open leaves nothing behind.
    Thread-safe. After ``fork`` the child drops the parent's pooled connections (without closing
    them under the parent) — Celery's prefork workers are safe.
    """

    def __init__(self) -> None:
        """An empty cache."""
        self._lock = threading.RLock()
        self._entries: dict[str, _Entry] = {}

    def open(self, url: str | URL, *, migrate: bool = True) -> Engine:
        """The engine for ``url``, created, checked and (if ``migrate``) upgraded on first use."""
        parsed = parse_url(url)
        key = parsed.render_as_string(hide_password=False)
        with self._lock:
            entry = self._entries.get(key)
            fresh = entry is None
            if entry is None:
                engine = create_store_engine(parsed)
                try:
                    check_connection(engine)
                except StoreError:
                    engine.dispose()
                    raise
                entry = _Entry(engine, migrated=False)
            if migrate and not entry.migrated:
                try:
                    upgrade(entry.engine)
                except StoreError:
                    if fresh:
                        entry.engine.dispose()
                    raise
                entry.migrated = True
            self._entries[key] = entry
            return entry.engine

    def urls(self) -> list[str]:
        """The (password-masked) URLs of the open engines."""
        with self._lock:
            return [mask_url(key) for key in self._entries]

    def dispose(self, url: str | URL | None = None) -> None:
        """Close and forget the engine for ``url``, or every engine when ``url`` is None."""
        with self._lock:
            if url is None:
                entries = list(self._entries.values())
                self._entries.clear()
            else:
                key = parse_url(url).render_as_string(hide_password=False)
                found = self._entries.pop(key, None)
                entries = [found] if found is not None else []
        for entry in entries:
            entry.engine.dispose()

    def after_fork_in_child(self) -> None:
        """Drop inherited pooled connections without closing them (they belong to the parent)."""
        self._lock = threading.RLock()
        for entry in self._entries.values():
            entry.engine.dispose(close=False)


#: The process-wide engine cache used by `open_store` (see `EngineCache` for why there is one).
engines = EngineCache()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=engines.after_fork_in_child)


def open_store(url: str | None = None, *, migrate: bool = True) -> Engine:
    """Open the store at ``url`` (default: ``Settings().db_url()``) and return its engine.

    Creates the folder of a SQLite file, checks the database answers, and with ``migrate`` brings
    the schema to the newest revision (``alembic upgrade head``, in one transaction). The engine is
    cached: opening the same URL again is cheap and returns the same engine.

    Raises `StoreError` with one line naming the URL (password masked) when the URL is malformed,
    the driver unknown, the server unreachable (fails within ``CONNECT_TIMEOUT_S``), the file not a
    database or not writable, or the migration fails. A failed open writes nothing.
    """
    return engines.open(url if url is not None else Settings().db_url(), migrate=migrate)


def dispose_engines() -> None:
    """Close every cached engine and its pooled connections (tests, shutdown, before a fork)."""
    engines.dispose()


@contextmanager
def session(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """A session that commits when the block ends normally and rolls back when it raises.

    Objects stay loaded after commit (``expire_on_commit=False``), so they are usable once the
    session is closed. ``write=True`` takes SQLite's write lock at ``BEGIN`` (no lock-upgrade
    deadlock between processes); it changes nothing on PostgreSQL. Database errors become
    `StoreError` (`ConstraintError` for a broken unique or foreign-key constraint).
    """
    bind = engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}) if write else engine
    db = Session(bind, expire_on_commit=False)
    try:
        yield db
        db.commit()
    except IntegrityError as exc:
        db.rollback()
        masked = mask_url(engine.url)
        raise ConstraintError(f"constraint violated in database {masked}: {one_line(exc)}") from exc
    except DBAPIError as exc:
        db.rollback()
        raise StoreError(f"database error in {mask_url(engine.url)}: {one_line(exc)}") from exc
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
