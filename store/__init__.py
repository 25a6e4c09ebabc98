"""Persistence: SQLModel tables, Alembic migrations, repository functions, settings and shared errors.

`store` is the bottom layer of the house: it imports nothing else of ours.
"""
