"""Migration 0004 (leases as columns) on SQLite and (marked ``services``) on PostgreSQL: jobs and
items that were queued or running under 0003, their leases inside JSON, are claimed and swept after
the upgrade exactly as before it; the downgrade puts the leases back into the JSON."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import select

from store.db import open_store, session
from store.migrate import current_revision, downgrade, head_revision, upgrade
from store.models import Job, JobItem, JobStatus
from workers.claims import ClaimOutcome, claim_item, claim_job
from workers.label import sweep_jobs
from workers.service_jobs import sweep_service_jobs

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)

#: The two tables as revision 0003 has them (what the old code wrote).
JOB_0003 = sa.table(
    "job",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("status", sa.String()),
    sa.column("params", _JSON),
    sa.column("progress_done", sa.Integer()),
    sa.column("progress_total", sa.Integer()),
    sa.column("attempts", sa.Integer()),
    sa.column("created_at", _TIME),
    sa.column("started_at", _TIME),
)
ITEM_0003 = sa.table(
    "job_item",
    sa.column("id", sa.Integer()),
    sa.column("job_id", sa.Integer()),
    sa.column("key", sa.String()),
    sa.column("status", sa.String()),
    sa.column("attempts", sa.Integer()),
    sa.column("result", _JSON),
    sa.column("created_at", _TIME),
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty database on each backend."""
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return url


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def seconds(value: datetime | None) -> float:
    assert value is not None
    return value.timestamp()


def fill_0003(engine: sa.Engine, now: float) -> dict[str, int]:
    """Jobs and items as the 0003 code left them mid-flight; their ids by name."""
    created = at(now - 2000)
    audit = {"baseline": "a", "candidate": "b", "units": ["L1.mlp.3"]}
    jobs: list[dict[str, Any]] = [
        # running, its holder alive (claimed 5 s ago)
        {
            "kind": "audit",
            "status": "running",
            "attempts": 1,
            "started_at": at(now - 5),
            "params": {**audit, "_lease": {"owner": "task-a", "claimed_at": now - 5}},
        },
        # running, its holder gone (claimed 1000 s ago, re-sent by a sweep 900 s ago)
        {
            "kind": "eval",
            "status": "running",
            "attempts": 1,
            "started_at": at(now - 1000),
            "params": {
                "suite": "s.jsonl",
                "_lease": {"owner": "task-b", "claimed_at": now - 1000, "resent_at": now - 900},
            },
        },
        # queued, its message sent 1000 s ago and lost
        {
            "kind": "investigate",
            "status": "queued",
            "attempts": 0,
            "started_at": None,
            "params": {"subject": "L1.mlp.3", "_lease": {"enqueued_at": now - 1000}},
        },
        # queued, sent 5 s ago
        {
            "kind": "audit",
            "status": "queued",
            "attempts": 0,
            "started_at": None,
            "params": {**audit, "_lease": {"enqueued_at": now - 5}},
        },
        # a running label job (no lease of its own: its items have them)
        {
            "kind": "label",
            "status": "running",
            "attempts": 1,
            "started_at": at(now - 1500),
            "params": {"model": "m", "digest": "d"},
        },
    ]
    names = ["live", "stale", "lost", "fresh", "label"]
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        for name, row in zip(names, jobs, strict=True):
            values = {"progress_done": 0, "progress_total": None, "created_at": created, **row}
            ids[name] = conn.execute(sa.insert(JOB_0003).values(values).returning(JOB_0003.c.id)).scalar_one()
        items = [
            ("held", "running", 1, {"owner": "task-u", "claimed_at": now - 5}),
            ("dropped", "running", 2, {"owner": "task-v", "claimed_at": now - 1000}),
            ("waiting", "queued", 0, {"enqueued_at": now - 1000}),
            ("sent", "queued", 0, {"enqueued_at": now - 5}),
            ("done", "succeeded", 1, {"investigation_id": 1, "label": "cats", "description": "d", "confidence": 1}),
        ]
        for key, status, attempts, result in items:
            values = {"job_id": ids["label"], "key": key, "status": status, "attempts": attempts, "result": result}
            ids[key] = conn.execute(
                sa.insert(ITEM_0003).values(created_at=created, **values).returning(ITEM_0003.c.id)
            ).scalar_one()
    return ids


def test_upgrade_moves_leases_into_columns_and_claims_and_sweeps_keep_their_rules(store_url: str) -> None:
    engine = open_store(store_url, migrate=False)
    upgrade(engine, "0003")
    now = time.time()
    ids = fill_0003(engine, now)

    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with session(engine) as db:
        jobs = {j.id: j for j in db.exec(select(Job)).all()}
        items = {i.id: i for i in db.exec(select(JobItem)).all()}
    live, stale, lost, fresh = (jobs[ids[n]] for n in ("live", "stale", "lost", "fresh"))
    assert all("_lease" not in j.params for j in jobs.values())  # nothing left in the JSON
    assert live.params == {"baseline": "a", "candidate": "b", "units": ["L1.mlp.3"]}
    assert (live.lease_owner, stale.lease_owner, lost.lease_owner) == ("task-a", "task-b", None)
    assert seconds(live.leased_at) == pytest.approx(now - 5, abs=1e-3)
    assert seconds(stale.leased_at) == pytest.approx(now - 1000, abs=1e-3)
    assert seconds(stale.sent_at) == pytest.approx(now - 900, abs=1e-3)
    assert seconds(lost.sent_at) == pytest.approx(now - 1000, abs=1e-3) and lost.leased_at is None
    assert seconds(fresh.sent_at) == pytest.approx(now - 5, abs=1e-3) and fresh.lease_owner is None
    held, dropped, waiting, done = (items[ids[k]] for k in ("held", "dropped", "waiting", "done"))
    assert (held.lease_owner, seconds(held.leased_at)) == ("task-u", pytest.approx(now - 5, abs=1e-3))
    assert dropped.lease_owner == "task-v" and held.result is None and dropped.result is None
    assert seconds(waiting.sent_at) == pytest.approx(now - 1000, abs=1e-3) and waiting.result is None
    assert done.result == {"investigation_id": 1, "label": "cats", "description": "d", "confidence": 1}
    assert done.lease_owner is None and done.sent_at is None

    # the sweeps: what was lost or held by the dead is re-sent; what is live or freshly sent is not
    sent: list[tuple[str, int]] = []
    assert sweep_service_jobs(engine, stale_after=100, send=lambda k, i: sent.append((k, i))) == {
        "queued": 1,
        "running": 1,
    }
    assert sorted(sent) == [("eval", ids["stale"]), ("investigate", ids["lost"])]
    units: list[int] = []
    counts = sweep_jobs(engine, stale_after=100, send_prepare=lambda j: None, send_unit=lambda j, i: units.append(i))
    assert counts["items"] == 2 and sorted(units) == sorted([ids["dropped"], ids["waiting"]])

    # the claims: a live lease keeps others out but lets its owner back in; a stale one is taken over
    limits: dict[str, Any] = {"stale_after": 100.0, "max_attempts": 3}
    assert claim_job(engine, ids["live"], owner="task-x", **limits) == (ClaimOutcome.skipped, None)
    outcome, again = claim_job(engine, ids["live"], owner="task-a", **limits)  # Celery's redelivery
    assert outcome == "claimed" and again is not None and again.attempt == 2
    outcome, taken = claim_job(engine, ids["stale"], owner="task-y", **limits)
    assert (
        outcome == "claimed" and taken is not None and taken.attempt == 2 and taken.row.params == {"suite": "s.jsonl"}
    )
    assert claim_item(engine, ids["held"], owner="task-x", **limits) == (ClaimOutcome.skipped, None)
    outcome, item = claim_item(engine, ids["held"], owner="task-u", **limits)
    assert outcome == "claimed" and item is not None and item.attempt == 2
    outcome, item = claim_item(engine, ids["dropped"], owner="task-z", **limits)
    assert outcome == "claimed" and item is not None and item.attempt == 3 and item.row.lease_owner == "task-z"

    # and back: the downgrade writes the leases into the JSON as 0003 reads them
    downgrade(engine, "0003")
    with engine.connect() as conn:
        params = dict(conn.execute(sa.select(JOB_0003.c.id, JOB_0003.c.params)).all())
        results = dict(conn.execute(sa.select(ITEM_0003.c.id, ITEM_0003.c.result)).all())
    assert params[ids["live"]]["_lease"]["owner"] == "task-a"
    assert params[ids["stale"]]["_lease"]["owner"] == "task-y"
    assert params[ids["lost"]]["_lease"]["enqueued_at"] > now - 1  # stamped by the sweep
    assert params[ids["fresh"]]["_lease"] == {"enqueued_at": pytest.approx(now - 5, abs=1e-3)}
    assert "_lease" not in params[ids["label"]]
    assert results[ids["held"]]["owner"] == "task-u" and results[ids["dropped"]]["owner"] == "task-z"
    assert results[ids["sent"]] == {"enqueued_at": pytest.approx(now - 5, abs=1e-3)}
    assert results[ids["done"]]["label"] == "cats"
    upgrade(engine)  # and up again, unchanged
    with session(engine) as db:
        row = db.get(JobItem, ids["held"])
    assert row is not None and row.status is JobStatus.running and row.lease_owner == "task-u"
