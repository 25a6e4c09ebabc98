"""Alembic migrations of the store. Run them with `store.migrate` (no alembic.ini needed)."""
