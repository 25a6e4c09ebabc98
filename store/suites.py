"""Uploaded suites (``POST /suites``): store one, find one by its reference, list them.

A stored suite is addressed as ``suite:<name>`` or ``suite:<id>`` (``SUITE_PREFIX`` + reference);
names are unique and start with a letter, so a reference of digits is always an id. Rows are never
changed once written. Like `store.repo`, every function opens its own short session and returns
detached rows; database failures raise `StoreError`.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from store.db import session
from store.errors import ConstraintError, InputError
from store.models import StoredSuite, StoredSuiteCreate, StoredSuiteRead

__all__ = [
    "SUITE_PREFIX",
    "create_stored_suite",
    "find_stored_suite",
    "get_stored_suite",
    "list_stored_suites",
    "stored_ref",
]

#: The prefix of a stored suite's address: ``suite:<name>#ID`` is one of its subjects.
SUITE_PREFIX = "suite:"


def stored_ref(reference: str) -> str | None:
    """The name or id after ``suite:`` when ``reference`` addresses a stored suite, else None."""
    if not reference.startswith(SUITE_PREFIX):
        return None
    return reference[len(SUITE_PREFIX) :].strip()


def create_stored_suite(engine: Engine, data: StoredSuiteCreate) -> StoredSuiteRead:
    """Store a validated suite; `ConstraintError` naming the suite when the name is taken."""
    taken = find_stored_suite(engine, data.name)
    if taken is not None:
        raise ConstraintError(f"a suite named {data.name!r} already exists (id {taken.id}); choose another name")
    try:
        with session(engine, write=True) as db:
            row = StoredSuite(**data.model_dump())
            db.add(row)
            db.flush()
            stored = StoredSuiteRead.model_validate(row)
    except ConstraintError:  # another upload took the name in between
        raise ConstraintError(f"a suite named {data.name!r} already exists; choose another name") from None
    return stored


def find_stored_suite(engine: Engine, reference: str) -> StoredSuite | None:
    """The stored suite named ``reference`` (or with that id, when it is all digits); None if none."""
    reference = reference.strip()
    if not reference:
        return None
    with session(engine) as db:
        if reference.isdigit() and reference.isascii():
            if len(reference) > 18:
                return None
            return db.get(StoredSuite, int(reference))
        return db.exec(select(StoredSuite).where(col(StoredSuite.name) == reference)).first()


def get_stored_suite(engine: Engine, reference: str) -> StoredSuite:
    """`find_stored_suite`, or `InputError` naming the reference."""
    row = find_stored_suite(engine, reference)
    if row is None:
        raise InputError(f"no uploaded suite {SUITE_PREFIX}{reference} (GET /suites lists them)")
    return row


def list_stored_suites(engine: Engine, *, limit: int = 100, offset: int = 0) -> list[StoredSuiteRead]:
    """Stored suites without their content, newest first."""
    with session(engine) as db:
        rows = db.exec(select(StoredSuite).order_by(col(StoredSuite.id).desc()).offset(offset).limit(limit)).all()
        return [StoredSuiteRead.model_validate(r) for r in rows]
