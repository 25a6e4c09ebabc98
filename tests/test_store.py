"""The store on a real SQLite file and (marked ``services``) on the real PostgreSQL."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

import store.engine as store_engine
from store import repo
from store.db import dispose_engines, engines, open_store, session
from store.dburl import mask_url
from store.errors import ConfigError, ConstraintError, DatabaseURLError, InputError, StoreError
from store.migrate import current_revision, downgrade, head_revision, upgrade
from store.models import (
    CacheStatus,
    Evidence,
    ExemplarCacheCreate,
    ExemplarCacheRead,
    ExemplarCacheRecord,
    Experiment,
    Explanation,
    GroundTruth,
    Hypothesis,
    HypothesisStatus,
    Investigation,
    InvestigationStatus,
    Job,
    JobCreate,
    JobKind,
    JobRead,
    JobStatus,
    ModelRecord,
    ModelRecordCreate,
    ModelRecordRead,
    Score,
    Subject,
    SubjectKind,
)

TABLES = {
    "model_record",
    "subject",
    "job",
    "job_item",
    "audit_run",
    "investigation",
    "experiment",
    "hypothesis",
    "evidence",
    "explanation",
    "ground_truth",
    "score",
    "exemplar_cache",
    "stored_suite",
    "sae_record",
    "shift_annotation",
    "hd_probe",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty database on each backend."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def engine(store_url: str) -> sa.Engine:
    """A migrated store on each backend."""
    return open_store(store_url)


def sha(text: str) -> str:
    """A sha256 hex digest of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()


def table_names(engine: sa.Engine) -> set[str]:
    """The tables of the store (without alembic_version)."""
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def schema_diff(engine: sa.Engine) -> list[object]:
    """What autogenerate would change to make the database match the models ([] = nothing)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, SQLModel.metadata))


def make_model(engine: sa.Engine, name: str = "gpt2", weights: str = "w") -> ModelRecord:
    """A stored model record."""
    return repo.upsert_model_record(
        engine, ModelRecordCreate(name=name, source="hf", revision="main", weights_digest=sha(weights))
    )


def cache_data(model_id: int, **changes: object) -> ExemplarCacheCreate:
    """An exemplar-cache description with sensible defaults."""
    fields: dict[str, object] = {
        "model_id": model_id,
        "site": "L3.mlp",
        "corpus": "tiny.txt",
        "corpus_digest": sha("corpus"),
        "ctx_len": 64,
        "n_tokens": 4096,
        "k": 20,
        "path": "/cache/a.pt",
        "digest": sha("file-a"),
    }
    fields.update(changes)
    return ExemplarCacheCreate.model_validate(fields)


# --------------------------------------------------------------------------------------------------
# Migrations
# --------------------------------------------------------------------------------------------------


def test_migrations_create_every_table_matching_the_models(engine: sa.Engine) -> None:
    assert table_names(engine) == TABLES
    assert current_revision(engine) == head_revision() == "0008"
    assert schema_diff(engine) == []


def test_open_twice_is_idempotent_and_cached(store_url: str) -> None:
    first = open_store(store_url)
    make_model(first)
    assert open_store(store_url) is first
    dispose_engines()  # a new process, in effect: migrations run again and find nothing to do
    second = open_store(store_url)
    assert second is not first
    assert current_revision(second) == head_revision()
    assert [m.name for m in _all(second, ModelRecord)] == ["gpt2"]


def test_downgrade_to_base_and_upgrade_again(engine: sa.Engine) -> None:
    make_model(engine)
    downgrade(engine, "base")
    assert table_names(engine) == set()
    assert current_revision(engine) is None
    upgrade(engine)
    assert table_names(engine) == TABLES
    assert current_revision(engine) == head_revision()
    assert schema_diff(engine) == []
    assert make_model(engine).id is not None


def test_upgrade_from_0001_keeps_the_rows(engine: sa.Engine) -> None:
    """Data written under the first schema survives the call-id migration untouched."""
    downgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO job (kind, status, params, progress_done, attempts, created_at) "
                "VALUES ('label', 'queued', '{}', 0, 0, :t)"
            ),
            {"t": datetime.now(UTC)},
        )
    upgrade(engine)
    assert current_revision(engine) == head_revision() == "0008"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT kind, status FROM job")).all() == [("label", "queued")]
        columns = {c["name"] for c in sa.inspect(conn).get_columns("experiment")}
    assert "call_id" in columns
    assert schema_diff(engine) == []


def test_open_without_migrate_only_connects(store_url: str) -> None:
    engine = open_store(store_url, migrate=False)
    assert current_revision(engine) is None
    assert table_names(engine) == set()
    assert open_store(store_url) is engine  # a later migrating open upgrades the cached engine
    assert current_revision(engine) == head_revision()


def test_failed_migration_is_rolled_back_entirely(store_url: str) -> None:
    """A half-applied migration would leave tables behind; DDL is transactional on both backends."""
    engine = open_store(store_url, migrate=False)
    with engine.begin() as conn:  # a table in the way of the last create_table of 0001
        conn.exec_driver_sql("CREATE TABLE score (precious INTEGER)")
        conn.exec_driver_sql("INSERT INTO score VALUES (42)")
    with pytest.raises(StoreError) as caught:
        upgrade(engine)
    assert "cannot upgrade database" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert table_names(engine) == {"score"}  # job, model_record, ... were created, then rolled back
    assert current_revision(engine) is None
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT precious FROM score").scalars().all() == [42]


def test_migration_env_runs_without_a_connection(sqlite_url: str) -> None:
    """The ``alembic`` command line path: env.py makes its own engine from ``sqlalchemy.url``."""
    from alembic import command

    from store.migrate import alembic_config

    config = alembic_config()
    config.set_main_option("sqlalchemy.url", sqlite_url)
    Path(sqlite_url.removeprefix("sqlite:///")).parent.mkdir(parents=True)
    command.upgrade(config, "head")
    engine = open_store(sqlite_url, migrate=False)
    assert current_revision(engine) == head_revision()
    assert table_names(engine) == TABLES


# --------------------------------------------------------------------------------------------------
# Round trip of every table
# --------------------------------------------------------------------------------------------------


_T = TypeVar("_T", bound=SQLModel)


def pk(row: SQLModel) -> int:
    """The primary key of a stored row."""
    key = getattr(row, "id", None)
    assert isinstance(key, int), row
    return key


def _all(engine: sa.Engine, table: type[_T]) -> list[_T]:
    with session(engine) as db:
        return list(db.exec(select(table)).all())


def test_round_trip_of_every_table(engine: sa.Engine) -> None:
    model = make_model(engine)
    assert model.id is not None
    subject = repo.get_or_create_subject(engine, model.id, SubjectKind.mlp, "L3.mlp.17")
    job = repo.create_job(engine, JobCreate(kind=JobKind.investigate, params={"unit": "L3.mlp.17"}))
    cache = repo.record_exemplar_cache(engine, cache_data(model.id))
    later = datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2)))

    with session(engine) as db:
        investigation = Investigation(
            job_id=job.id,
            subject_id=pk(subject),
            backend="builtin",
            thread_id="thread-1",
            budget={"tool_calls": 20, "seconds": 60.0},
            tool_calls=3,
            tokens=1234,
            cost=0.25,
            seconds=1.5,
            finished_at=later,
        )
        db.add(investigation)
        db.flush()
        experiment = Experiment(
            investigation_id=pk(investigation),
            tool="top_exemplars",
            args={"k": 5, "site": "L3.mlp"},
            result_summary={"tokens": ["the", "a"], "max": 3.5},
            artifact_path="/art/x.pt",
            seconds=0.5,
            cache_key="abc",
        )
        db.add(experiment)
        db.flush()
        hypothesis = Hypothesis(
            investigation_id=pk(investigation),
            text="fires on articles",
            status=HypothesisStatus.supported,
            confidence=0.8,
        )
        db.add(hypothesis)
        db.flush()
        db.add(Evidence(hypothesis_id=pk(hypothesis), experiment_id=pk(experiment), supports=True, note="n"))
        explanation = Explanation(
            subject_id=pk(subject),
            investigation_id=pk(investigation),
            label="English articles",
            description="Fires on 'the' and 'a' before nouns.",
            code=None,
            domain={"exceptions": ["the end"]},
            confidence=0.75,
            evidence=[pk(experiment)],
        )
        db.add(explanation)
        db.flush()
        db.add(GroundTruth(subject_id=pk(subject), suite="suite.jsonl", spec={"id": "7", "kind": "model_unit"}))
        db.add(Score(explanation_id=pk(explanation), metric="detection", value=0.9, details={"n": 40}))

    with session(engine) as db:
        m = db.exec(select(ModelRecord)).one()
        assert (m.name, m.source, m.revision, m.weights_digest) == ("gpt2", "hf", "main", sha("w"))
        s = db.exec(select(Subject)).one()
        assert (s.kind, s.address, s.model_id) == (SubjectKind.mlp, "L3.mlp.17", m.id)
        assert isinstance(s.kind, SubjectKind)
        j = db.exec(select(Job)).one()
        assert (j.kind, j.status, j.params, j.progress_done, j.attempts) == (
            JobKind.investigate,
            JobStatus.queued,
            {"unit": "L3.mlp.17"},
            0,
            0,
        )
        i = db.exec(select(Investigation)).one()
        assert i.budget == {"tool_calls": 20, "seconds": 60.0}
        assert (i.job_id, i.subject_id, i.thread_id, i.tokens, i.cost) == (j.id, s.id, "thread-1", 1234, 0.25)
        assert i.status is InvestigationStatus.running
        assert i.finished_at == later and i.finished_at.tzinfo == UTC  # converted to UTC, same instant
        e = db.exec(select(Experiment)).one()
        assert e.args == {"k": 5, "site": "L3.mlp"}
        assert e.result_summary == {"tokens": ["the", "a"], "max": 3.5}
        assert (e.artifact_path, e.seconds, e.cache_key) == ("/art/x.pt", 0.5, "abc")
        h = db.exec(select(Hypothesis)).one()
        assert (h.text, h.status, h.confidence) == ("fires on articles", HypothesisStatus.supported, 0.8)
        ev = db.exec(select(Evidence)).one()
        assert (ev.hypothesis_id, ev.experiment_id, ev.supports, ev.weight, ev.note) == (
            h.id,
            e.id,
            True,
            1.0,
            "n",
        )
        x = db.exec(select(Explanation)).one()
        assert (x.label, x.code, x.domain, x.evidence) == (
            "English articles",
            None,
            {"exceptions": ["the end"]},
            [e.id],
        )
        g = db.exec(select(GroundTruth)).one()
        assert (g.subject_id, g.suite, g.spec) == (s.id, "suite.jsonl", {"id": "7", "kind": "model_unit"})
        sc = db.exec(select(Score)).one()
        assert (sc.explanation_id, sc.metric, sc.value, sc.details) == (x.id, "detection", 0.9, {"n": 40})
        c = db.exec(select(ExemplarCacheRecord)).one()
        assert ExemplarCacheRead.model_validate(c) == ExemplarCacheRead.model_validate(cache)
        for row in (m, s, j, i, e, h, ev, x, g, sc, c):
            assert row.created_at.tzinfo == UTC, type(row).__name__

    # Deleting an investigation takes its experiments, hypotheses and evidence; keeps the explanation.
    with session(engine) as db:
        db.delete(db.exec(select(Investigation)).one())
    for table in (Investigation, Experiment, Hypothesis, Evidence):
        assert _all(engine, table) == []
    (kept,) = _all(engine, Explanation)
    assert isinstance(kept, Explanation) and kept.investigation_id is None


def test_read_models_validate_stored_rows(engine: sa.Engine) -> None:
    model = make_model(engine)
    job = repo.create_job(engine, JobCreate(kind="label"))
    assert ModelRecordRead.model_validate(model).weights_digest == sha("w")
    assert JobRead.model_validate(job).status is JobStatus.queued


def test_foreign_keys_are_enforced(engine: sa.Engine) -> None:
    with pytest.raises(ConstraintError), session(engine) as db:
        db.add(Experiment(investigation_id=12345, tool="t"))
    with pytest.raises(ConstraintError):
        repo.record_exemplar_cache(engine, cache_data(model_id=999))


def test_naive_datetimes_are_refused(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), session(engine) as db:
        db.add(Job(kind=JobKind.eval, started_at=datetime(2030, 1, 1)))


def test_session_rolls_back_on_error(engine: sa.Engine) -> None:
    with pytest.raises(RuntimeError), session(engine) as db:
        db.add(Job(kind=JobKind.eval))
        db.flush()
        raise RuntimeError("boom")
    assert _all(engine, Job) == []


# --------------------------------------------------------------------------------------------------
# Unique keys and repository functions
# --------------------------------------------------------------------------------------------------


def test_model_record_is_unique_on_name_and_weights(engine: sa.Engine) -> None:
    first = make_model(engine)
    again = repo.upsert_model_record(engine, ModelRecordCreate(name="gpt2", source="local", weights_digest=sha("w")))
    assert again.id == first.id and again.source == "hf"  # existing record returned unchanged
    assert make_model(engine, weights="other").id != first.id
    assert repo.get_model_record(engine, "gpt2", sha("w")) == first
    assert repo.get_model_record(engine, "gpt2", sha("nope")) is None
    with pytest.raises(ConstraintError, match="constraint violated"), session(engine) as db:
        db.add(ModelRecord(name="gpt2", source="hf", weights_digest=sha("w")))
    assert len(_all(engine, ModelRecord)) == 2


def test_exemplar_cache_is_unique_on_its_key(engine: sa.Engine) -> None:
    model = make_model(engine)
    assert model.id is not None
    first = repo.record_exemplar_cache(engine, cache_data(model.id))
    moved = repo.record_exemplar_cache(engine, cache_data(model.id, path=Path("/cache/b.pt"), digest=sha("b")))
    assert moved.id == first.id
    assert (moved.path, moved.digest) == ("/cache/b.pt", sha("b"))
    with pytest.raises(ConstraintError), session(engine) as db:
        db.add(ExemplarCacheRecord(**cache_data(model.id).model_dump()))
    other_k = repo.record_exemplar_cache(engine, cache_data(model.id, k=50, path="/cache/c.pt"))
    assert other_k.id != first.id
    assert [c.id for c in repo.list_exemplar_caches(engine, model.id)] == [first.id, other_k.id]
    assert repo.list_exemplar_caches(engine, model.id + 1) == []
    assert len(repo.list_exemplar_caches(engine)) == 2


def test_find_exemplar_cache_filters_and_prefers_newest(engine: sa.Engine) -> None:
    model = make_model(engine)
    assert model.id is not None
    old = repo.record_exemplar_cache(engine, cache_data(model.id, ctx_len=64))
    new = repo.record_exemplar_cache(engine, cache_data(model.id, ctx_len=128, path="/cache/n.pt"))
    building = repo.record_exemplar_cache(
        engine, cache_data(model.id, ctx_len=256, path="/cache/p.pt", status=CacheStatus.building)
    )
    found = repo.find_exemplar_cache(engine, model.id, "L3.mlp")
    assert found is not None and found.id == new.id
    found = repo.find_exemplar_cache(engine, model.id, "L3.mlp", ctx_len=64, k=20, corpus_digest=sha("corpus"))
    assert found is not None and found.id == old.id
    assert repo.find_exemplar_cache(engine, model.id, "L3.mlp", ctx_len=256) is None
    found = repo.find_exemplar_cache(engine, model.id, "L3.mlp", ctx_len=256, status=None)
    assert found is not None and found.id == building.id
    assert repo.find_exemplar_cache(engine, model.id, "L4.mlp") is None
    assert repo.find_exemplar_cache(engine, model.id, "L3.mlp", n_tokens=1) is None


def test_exemplar_cache_create_validates() -> None:
    with pytest.raises(ValueError):
        cache_data(1, digest="not-a-sha256")
    with pytest.raises(ValueError):
        cache_data(1, k=0)
    with pytest.raises(ValueError):
        cache_data(1, unexpected="field")


def test_get_or_create_subject(engine: sa.Engine) -> None:
    model = make_model(engine)
    assert model.id is not None
    unit = repo.get_or_create_subject(engine, model.id, "mlp", "L3.mlp.17")
    assert repo.get_or_create_subject(engine, model.id, SubjectKind.mlp, "L3.mlp.17").id == unit.id
    other_model = make_model(engine, weights="other")
    assert repo.get_or_create_subject(engine, other_model.id, "mlp", "L3.mlp.17").id != unit.id
    function = repo.get_or_create_subject(engine, None, "numeric", "suite.jsonl#7")
    assert function.model_id is None
    assert repo.get_or_create_subject(engine, None, "numeric", "suite.jsonl#7").id == function.id
    with pytest.raises(InputError, match="unknown subject kind"):
        repo.get_or_create_subject(engine, None, "neuron", "x")
    with pytest.raises(InputError, match="stored as kind 'mlp'"):
        repo.get_or_create_subject(engine, model.id, "attn", "L3.mlp.17")
    for model_id in (model.id, None):  # unique with and without a model (partial index for NULL)
        with pytest.raises(ConstraintError), session(engine) as db:
            address = "L3.mlp.17" if model_id else "suite.jsonl#7"
            db.add(Subject(kind=SubjectKind.mlp, address=address, model_id=model_id))


def test_job_lifecycle(engine: sa.Engine) -> None:
    job = repo.create_job(engine, JobCreate(kind=JobKind.label, params={"units": [1, 2]}, progress_total=10))
    assert job.id is not None
    assert repo.get_job(engine, job.id) == job
    assert repo.get_job(engine, job.id + 100) is None
    running = repo.set_job_status(engine, job.id, JobStatus.running)
    assert (running.status, running.attempts) == (JobStatus.running, 1)
    assert running.started_at is not None and running.started_at.tzinfo == UTC
    assert repo.update_job_progress(engine, job.id, advance=3).progress_done == 3
    assert repo.update_job_progress(engine, job.id, advance=2, total=12).progress_done == 5
    assert repo.update_job_progress(engine, job.id, done=7).progress_total == 12
    failed = repo.set_job_status(engine, job.id, JobStatus.failed, error="CUDA out of memory")
    assert failed.finished_at is not None and failed.error == "CUDA out of memory"
    retried = repo.set_job_status(engine, job.id, JobStatus.running)
    assert (retried.attempts, retried.error, retried.finished_at) == (2, None, None)
    done = repo.set_job_status(engine, job.id, JobStatus.succeeded)
    assert done.finished_at is not None and done.progress_done == 7
    with pytest.raises(ValueError):
        repo.update_job_progress(engine, job.id, done=1, advance=1)
    with pytest.raises(ValueError):
        repo.update_job_progress(engine, job.id, advance=-1)
    with pytest.raises(StoreError, match="job 999 does not exist"):
        repo.update_job_progress(engine, 999, advance=1)
    with pytest.raises(ValueError):
        JobCreate.model_validate({"kind": "paint"})


def test_concurrent_writers(engine: sa.Engine) -> None:
    """Progress from many workers adds up; racing upserts of one key agree on one row."""
    job = repo.create_job(engine, JobCreate(kind=JobKind.label, progress_total=200))
    assert job.id is not None
    job_id = job.id
    ids: list[int | None] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                repo.update_job_progress(engine, job_id, advance=1)
            ids.append(make_model(engine, name="shared").id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = repo.get_job(engine, job_id)
    assert stored is not None and stored.progress_done == 200
    assert len(set(ids)) == 1


def test_default_url_is_the_sqlite_file_in_the_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("AUTOINTERP_HOME", str(home))
    monkeypatch.delenv("AUTOINTERP_DB", raising=False)
    engine = open_store()
    try:
        assert Path(str(engine.url.database)) == home / "autointerp.db"
        assert (home / "autointerp.db").is_file()
    finally:
        engines.dispose(engine.url)


# --------------------------------------------------------------------------------------------------
# Failing opens
# --------------------------------------------------------------------------------------------------


def _assert_one_line(error: BaseException, *must_contain: str) -> None:
    message = str(error)
    assert "\n" not in message and "\r" not in message, message
    assert "secret" not in message, message
    for part in must_contain:
        assert part in message, message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql+psycopg://u:secret@127.0.0.1:5999/x",
            "cannot connect to database postgresql+psycopg://u:***@127.0.0.1:5999/x: connection refused",
        ),
        ("nodb+nodriver://u:secret@host/x", "cannot connect to database nodb+nodriver://u:***@host/x"),
        ("postgresql+nodriver://u:secret@host/x", "unknown or uninstalled database driver"),
        ("garbage", "malformed database URL 'garbage'"),
        ("", "malformed database URL"),
        (
            "postgresql+psycopg://u:secret@host:notaport/x",
            "malformed database URL 'postgresql+psycopg://u:***@",
        ),
        ("postgresql+psycopg://u:secret@host.invalid/x", "cannot connect to database"),
    ],
)
def test_bad_urls_raise_one_line_store_errors(url: str, expected: str) -> None:
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        open_store(url)
    _assert_one_line(caught.value, expected)
    assert time.monotonic() - started < 10
    assert all("secret" not in u for u in engines.urls())
    assert mask_url(url).count("secret") == 0


def test_url_errors_are_also_config_errors() -> None:
    with pytest.raises(ConfigError):
        open_store("garbage")
    assert issubclass(DatabaseURLError, StoreError)


def test_unreachable_sqlite_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError) as caught:
        open_store(f"sqlite:///{blocker / 'sub' / 'x.db'}")
    _assert_one_line(caught.value, "cannot connect to database sqlite:///", "cannot create folder")
    with pytest.raises(StoreError) as caught:
        open_store("sqlite:////proc/no-such-root/x.db")
    _assert_one_line(caught.value, "/proc/no-such-root")
    assert blocker.read_text() == "not a folder"


def test_silent_server_fails_within_the_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that accepts TCP but never answers (a hung server, a firewall) must not hang us."""
    monkeypatch.setattr(store_engine, "CONNECT_TIMEOUT_S", 2)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            open_store(f"postgresql+psycopg://u:secret@127.0.0.1:{port}/x")
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    _assert_one_line(caught.value, f"u:***@127.0.0.1:{port}/x")
    assert elapsed < 8


@pytest.fixture
def populated(sqlite_url: str) -> Iterator[tuple[str, Path]]:
    """A SQLite store with rows in it, closed again: (url, file)."""
    engine = open_store(sqlite_url)
    make_model(engine)
    repo.create_job(engine, JobCreate(kind=JobKind.audit))
    dispose_engines()
    yield sqlite_url, Path(sqlite_url.removeprefix("sqlite:///"))


def _rows(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        models = conn.execute("SELECT name, weights_digest FROM model_record").fetchall()
        jobs = conn.execute("SELECT kind, status FROM job").fetchall()
    return models, jobs


def test_failed_opens_leave_an_existing_database_intact(populated: tuple[str, Path]) -> None:
    url, path = populated
    before = _rows(path)
    assert before == ([("gpt2", sha("w"))], [("audit", "queued")])

    # 1. A database migrated by a newer version of the code: refused, untouched.
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff_future'")
    with pytest.raises(StoreError) as caught:
        open_store(url)
    _assert_one_line(caught.value, "cannot upgrade database", "ffff_future", "newer autointerp")
    assert _rows(path) == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("ffff_future",)]
        conn.execute("UPDATE alembic_version SET version_num = ?", (head_revision(),))
    assert url not in engines.urls()

    # 2. The same file through a driver that does not exist.
    content = path.read_bytes()
    with pytest.raises(StoreError):
        open_store(url.replace("sqlite://", "sqlite+nodriver://"))
    assert path.read_bytes() == content

    # 3. Opening works again afterwards and sees the rows.
    engine = open_store(url)
    assert [m.name for m in _all(engine, ModelRecord)] == ["gpt2"]
    assert _rows(path) == before


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("my precious notes\n" * 100)
    content = path.read_bytes()
    for migrate in (True, False):
        with pytest.raises(StoreError) as caught:
            open_store(f"sqlite:///{path}", migrate=migrate)
        _assert_one_line(caught.value, f"cannot connect to database sqlite:///{path}", "not a database")
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]
