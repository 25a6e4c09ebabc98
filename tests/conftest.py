"""Shared fixtures.

Store: ``sqlite_url`` (a fresh SQLite file under tmp_path) and ``pg_url`` (a fresh schema in the test
PostgreSQL, dropped afterwards; set ``AUTOINTERP_TEST_PG`` to point elsewhere). Tests that use
``pg_url`` must be marked ``services``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from store.db import engines

PG_BASE_URL = os.environ.get("AUTOINTERP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """URL of a SQLite file that does not exist yet (its folder neither); its engine is disposed after."""
    url = f"sqlite:///{tmp_path / 'store' / 'autointerp.db'}"
    yield url
    engines.dispose(url)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of the test PostgreSQL with ``search_path`` set to a new, empty schema ``t_<hex>``.

    Only that schema is created and dropped (CASCADE); nothing else in the database is touched.
    """
    schema = f"t_{uuid.uuid4().hex}"
    admin = sa.create_engine(PG_BASE_URL, connect_args={"connect_timeout": 5}, poolclass=sa.NullPool)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"test PostgreSQL at {PG_BASE_URL} is unreachable ({str(exc.orig).splitlines()[0]}); "
            "start it, set AUTOINTERP_TEST_PG, or deselect with -m 'not services'"
        )
    separator = "&" if "?" in PG_BASE_URL else "?"
    url = f"{PG_BASE_URL}{separator}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        engines.dispose(url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()
