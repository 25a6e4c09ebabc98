"""The LangGraph checkpointer that keeps investigation threads: SQLite beside a SQLite store,
PostgreSQL (``setup()`` once) when the store is PostgreSQL; and `prune_thread`, which drops a finished
thread's history (LangGraph saves a checkpoint per super-step, each with the whole message list)."""

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

__all__ = ["open_checkpointer", "prune_thread"]


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


def prune_thread(saver: Any, thread_id: str) -> int:
    """Keep only the latest checkpoint of each checkpoint namespace of thread ``thread_id`` (the one
    ``get_tuple`` loads, so resuming the thread is unchanged) and delete the older ones with their
    pending writes; return how many checkpoints were deleted.

    A `PostgresSaver` prunes with its own ``prune(strategy="keep_latest")`` (which also frees the blobs
    only deleted checkpoints used and unlinks the kept checkpoint from a deleted parent); the count is
    the thread's checkpoint rows before less after (it also drops a subgraph call's namespace,
    ``node:task``, whole with the root checkpoint it started from; investigation graphs have none). A
    `SqliteSaver` is pruned here in one transaction: checkpoint ids are uuid6 strings whose leading bits
    are the time, so the greatest id of a namespace is its latest (and the one SqliteSaver's
    ``get_tuple`` loads). The kept checkpoint's link to a deleted parent is cleared, as PostgreSQL does.

    An unknown thread gives 0; so does any other saver (nothing is done). Errors of the database (and
    PostgreSQL's refusals: a thread with a ``DeltaChannel``, a concurrent prune) propagate, with nothing
    of that thread deleted.
    """
    from langgraph.checkpoint.sqlite import SqliteSaver

    if isinstance(saver, SqliteSaver):
        return _prune_sqlite(saver, str(thread_id))
    try:
        from langgraph.checkpoint.postgres import PostgresSaver
    except ImportError:  # pragma: no cover - installed with the service extras
        return 0
    if isinstance(saver, PostgresSaver):
        return _prune_postgres(saver, str(thread_id))
    return 0


def _prune_postgres(saver: Any, thread_id: str) -> int:
    before = _count_postgres(saver, thread_id)
    if before <= 1:
        return 0
    saver.prune([thread_id], strategy="keep_latest")
    return max(0, before - _count_postgres(saver, thread_id))


def _count_postgres(saver: Any, thread_id: str) -> int:
    with saver._cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM checkpoints WHERE thread_id = %s", (thread_id,))
        row = cur.fetchone()
    return int(row["n"]) if row else 0


#: Checkpoints of the thread older than the latest of their namespace.
_SQLITE_OLDER = """
    FROM checkpoints AS c
    WHERE c.thread_id = ? AND c.checkpoint_id < (
        SELECT max(m.checkpoint_id) FROM checkpoints AS m
        WHERE m.thread_id = c.thread_id AND m.checkpoint_ns = c.checkpoint_ns
    )
"""


def _prune_sqlite(saver: Any, thread_id: str) -> int:
    conn: sqlite3.Connection = saver.conn
    with saver.lock:
        saver.setup()
        if conn.in_transaction:  # the saver commits its own work; do not take in anyone else's
            conn.commit()
        cur = conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")  # the write lock first: counts and deletes see one state
            cur.execute(
                "DELETE FROM writes WHERE thread_id = ? AND (checkpoint_ns, checkpoint_id) IN "
                f"(SELECT c.checkpoint_ns, c.checkpoint_id {_SQLITE_OLDER})",
                (thread_id, thread_id),
            )
            cur.execute(f"DELETE FROM checkpoints WHERE rowid IN (SELECT c.rowid {_SQLITE_OLDER})", (thread_id,))
            deleted = max(0, cur.rowcount)
            if deleted:
                cur.execute(
                    "UPDATE checkpoints SET parent_checkpoint_id = NULL WHERE thread_id = ? "
                    "AND parent_checkpoint_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM checkpoints AS p "
                    "WHERE p.thread_id = checkpoints.thread_id AND p.checkpoint_ns = checkpoints.checkpoint_ns "
                    "AND p.checkpoint_id = checkpoints.parent_checkpoint_id)",
                    (thread_id,),
                )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            cur.close()
    return deleted
