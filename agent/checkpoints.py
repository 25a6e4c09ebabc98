"""The LangGraph checkpointer that keeps investigation threads: SQLite beside a SQLite store,
PostgreSQL (``setup()`` once) when the store is PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from store.dburl import mask_url
from store.errors import StoreError
from store.settings import Settings


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[Any]:
    """A checkpointer for the store named by ``settings`` (closed when the block ends)."""
    url = make_url(settings.db_url())
    if url.get_backend_name() == "postgresql":
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row

        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            conn = psycopg.connect(
                conninfo, autocommit=True, prepare_threshold=0, row_factory=dict_row, connect_timeout=5
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the checkpointer at {mask_url(url)}: {exc}".splitlines()[0]) from exc
        try:
            saver = PostgresSaver(conn)
            saver.setup()
            yield saver
        finally:
            conn.close()
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    database = url.database
    folder = Path(database).parent if database and database != ":memory:" else settings.ensure_home()
    path = folder / "checkpoints.sqlite"
    folder.mkdir(parents=True, exist_ok=True)
    lite = sqlite3.connect(str(path), check_same_thread=False)
    try:
        yield SqliteSaver(lite)
    finally:
        lite.close()
