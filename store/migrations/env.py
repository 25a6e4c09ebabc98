"""Alembic environment for the store.

`store.migrate` builds the Alembic ``Config`` in code and passes an open connection, inside a
transaction it owns, as ``config.attributes["connection"]``; the migrations then run in that
transaction (all or nothing, SQLite included). Without one (the ``alembic`` command line with an
ini file of your own), the URL comes from ``sqlalchemy.url`` or the settings (``AUTOINTERP_DB``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import store.models  # noqa: F401  (registers every table on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from store.settings import Settings

    return Settings().db_url()


def run_migrations_offline() -> None:
    """Write the migration SQL for the configured URL's dialect instead of running it."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the connection given by the caller, or on a fresh one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from store.engine import create_store_engine
    from store.migrate import migration_connection

    engine = create_store_engine(_url())
    try:
        with migration_connection(engine) as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
