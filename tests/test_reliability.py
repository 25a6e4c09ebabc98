"""Failures with real processes: ``autointerp worker`` subprocesses killed with SIGKILL, a Redis server
restarted (without persistence) mid-job, and a PostgreSQL that cannot be reached. After each, the
label job finishes with every unit labeled exactly once (counted in JobItem and Explanation rows).

Short limits keep it quick: hard time limit 15 s, visibility timeout 18 s (so a dead worker's task is
handed on about 18 s later), sweeps every second. The limit leaves room for a cold pool process on a
slow, shared CI machine (loading the model there took over 5 s), which is what the tests are not about.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from sqlmodel import select

from store.db import open_store, session
from store.models import Explanation, Investigation, JobItem, JobStatus
from store.settings import Settings
from tests.serve_helpers import free_port
from workers.jobs import job_view
from workers.service_jobs import submit_service_job

pytestmark = pytest.mark.services

ROOT = Path(__file__).parent.parent


def service_env(home: Path, db_url: str, broker: str) -> dict[str, str]:
    """Environment of a worker, beat and client of one test."""
    return {
        **os.environ,
        "AUTOINTERP_HOME": str(home),
        "AUTOINTERP_DB": db_url,
        "AUTOINTERP_BROKER_URL": broker,
        "AUTOINTERP_BROKER_PREFIX": f"t{uuid.uuid4().hex[:12]}:",
        "AUTOINTERP_TASK_TIME_LIMIT": "15",
        "AUTOINTERP_VISIBILITY_TIMEOUT": "18",
        "AUTOINTERP_SWEEP_INTERVAL": "1",
        "TRANSFORMERS_VERBOSITY": "error",
    }


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``autointerp ARGS`` in its own process group, killed (the whole group) at the end."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autointerp", *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        kill(proc)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and everything in its group (a machine-level crash), then reap it."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def env_settings(env: dict[str, str]) -> Settings:
    """The settings a process started with ``env`` reads."""
    return Settings.model_validate({k[11:].lower(): v for k, v in env.items() if k.startswith("AUTOINTERP_")})


def worker_args() -> list[str]:
    return ["worker", "--queues", "gpu,cpu", "--concurrency", "1", "--loglevel", "INFO"]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` (and the worker log's tail) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")


def label_params(model: Path, stop: int) -> dict[str, object]:
    return {"model": str(model), "layer": 1, "start": 0, "stop": stop, "budget": 5, "max_tokens": 2000}


def assert_exactly_once(db_url: str, job_id: int, n_units: int) -> None:
    """Every unit succeeded, and each has exactly one explanation (one per subject) in the job."""
    engine = open_store(db_url)
    view = job_view(engine, job_id)
    assert view.status == "succeeded", view
    assert view.progress.done == view.progress.total == n_units
    with session(engine) as db:
        items = db.exec(select(JobItem).where(JobItem.job_id == job_id)).all()
        explanations = db.exec(select(Explanation).join(Investigation).where(Investigation.job_id == job_id)).all()
    assert len(items) == n_units and len({i.key for i in items}) == n_units
    assert all(i.status is JobStatus.succeeded for i in items)
    assert len(explanations) == n_units
    assert len({e.subject_id for e in explanations}) == n_units
    assert {i.investigation_id for i in items} == {e.investigation_id for e in explanations}


def done(db_url: str, job_id: int) -> int:
    return job_view(open_store(db_url), job_id).progress.done


def finished(db_url: str, job_id: int) -> bool:
    return job_view(open_store(db_url), job_id).status in ("succeeded", "failed")


def test_worker_killed_mid_job_then_restarted(home: Path, pg_url: str, tiny_llama_dir: Path, tmp_path: Path) -> None:
    env = service_env(home, pg_url, "redis://127.0.0.1:6379/0")
    settings = env_settings(env)
    log = tmp_path / "worker.log"
    n_units = 6
    with process(worker_args(), env, log) as first:
        job_id = submit_service_job(settings, "label", label_params(tiny_llama_dir, n_units))
        wait_until(lambda: done(pg_url, job_id) >= 1, 90, "the first unit", log)
        engine = open_store(pg_url)

        def running() -> list[JobItem]:
            with session(engine) as db:
                return list(
                    db.exec(select(JobItem).where(JobItem.job_id == job_id, JobItem.status == JobStatus.running)).all()
                )

        wait_until(lambda: bool(running()), 30, "a unit in flight", log)
        kill(first)  # kill -9 of the worker mid-unit
    in_flight = {i.key for i in running()}
    assert in_flight and done(pg_url, job_id) < n_units  # the dead worker left a unit claimed
    with process(worker_args(), env, log):
        wait_until(lambda: finished(pg_url, job_id), 120, "the job to finish after the restart", log)
    assert_exactly_once(pg_url, job_id, n_units)
    with session(engine) as db:
        retried = {i.key: i.attempts for i in db.exec(select(JobItem).where(JobItem.job_id == job_id)).all()}
    for key in in_flight:  # the unit the dead worker held was delivered again, under the attempts limit
        assert retried[key] == 2


@contextmanager
def redis_server(port: int, log: Path) -> Iterator[Callable[[], None]]:
    """A private redis-server without persistence; yields a function that restarts it (SIGKILL + start)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        with log.open("ab") as out:
            procs.append(
                subprocess.Popen(
                    ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def restart() -> None:
        procs[-1].kill()
        procs[-1].wait()
        start()

    start()
    try:
        yield restart
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_redis_restarted_mid_job(home: Path, pg_url: str, tiny_llama_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = service_env(home, pg_url, f"redis://127.0.0.1:{port}/0")
    settings = env_settings(env)
    log = tmp_path / "worker.log"
    n_units = 6
    with (
        redis_server(port, tmp_path / "redis.log") as restart_redis,
        process(worker_args(), env, log),
        process(["beat", "--loglevel", "INFO"], env, tmp_path / "beat.log"),
    ):
        job_id = submit_service_job(settings, "label", label_params(tiny_llama_dir, n_units))
        wait_until(lambda: done(pg_url, job_id) >= 1, 90, "the first unit", log)
        restart_redis()  # every queued message is gone: no persistence
        assert done(pg_url, job_id) < n_units
        wait_until(lambda: finished(pg_url, job_id), 120, "the job to finish after the Redis restart", log)
    assert_exactly_once(pg_url, job_id, n_units)


class TcpProxy:
    """A TCP forwarder to PostgreSQL that the test can close (connections refused) and reopen."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        """Accept connections (in a background thread)."""
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def close(self) -> None:
        """Refuse new connections and cut the open ones (the database 'goes away')."""
        if self._server is not None:
            with suppress(OSError):  # shutdown wakes the thread blocked in accept()
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            for conn in self._conns:
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            if self._server is not server:  # closed meanwhile
                client.close()
                return
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.close()


def test_postgres_unreachable_retries_and_writes_nothing(
    home: Path, pg_url: str, tiny_llama_dir: Path, tmp_path: Path
) -> None:
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.open()
    proxied = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    assert proxied != pg_url
    env = service_env(home, proxied, "redis://127.0.0.1:6379/0")
    client = env_settings(env)
    client = client.model_copy(update={"db": pg_url})  # the client reaches the database directly
    log = tmp_path / "worker.log"
    n_units = 3
    engine = open_store(pg_url)
    with process(worker_args(), env, log):
        wait_until(lambda: "ready" in log.read_text(errors="replace"), 60, "the worker to start", log)
        proxy.close()  # the worker's database is now unreachable
        job_id = submit_service_job(client, "label", label_params(tiny_llama_dir, n_units))
        wait_until(lambda: log.read_text(errors="replace").count("retrying in") >= 2, 30, "two retries", log)
        lines = [line for line in log.read_text(errors="replace").splitlines() if "retrying in" in line]
        first_line = lines[0].lower()
        assert f"label_prepare job {job_id}: " in first_line and f"127.0.0.1:{proxy.port}" in first_line
        assert "connection refused; retrying in 1s" in first_line, lines[0]
        with session(engine) as db:  # nothing half-written: no claim, no investigation, job untouched
            items = db.exec(select(JobItem).where(JobItem.job_id == job_id)).all()
            investigations = db.exec(select(Investigation).where(Investigation.job_id == job_id)).all()
        assert [i.attempts for i in items] == [0] * n_units and not investigations
        assert job_view(engine, job_id).status == "queued"
        proxy.open()  # the database is back: the retries go through
        wait_until(lambda: finished(pg_url, job_id), 90, "the job to finish after the database returned", log)
    proxy.close()
    assert_exactly_once(pg_url, job_id, n_units)


def pool_children(pid: int) -> list[int]:
    """Ids of the child processes of ``pid`` (a prefork worker's pool processes)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_worker_process_killed_mid_investigation_job(
    home: Path, pg_url: str, tiny_llama_dir: Path, tmp_path: Path
) -> None:
    """kill -9 of the pool process running an investigate job, just after it created the job's
    investigation: the parent requeues the message under the same task id, the new pool process
    re-claims the job (same owner; before leases it found the job ``running`` and skipped it, so the
    job stayed running forever), continues that investigation, and the job ends with one
    investigation and one explanation."""
    from store.jobs import job_investigation
    from tools.context import ToolContext
    from tools.exemplars.service import build_site_cache
    from workers.service_jobs import submit_investigation

    env = service_env(home, pg_url, "redis://127.0.0.1:6379/0")
    settings = env_settings(env)
    log = tmp_path / "worker.log"
    engine = open_store(pg_url)
    # a small exemplar cache up front, so the investigation itself takes a second or two
    runtime = ToolContext(settings=settings).runtime(str(tiny_llama_dir))
    build_site_cache(runtime, engine, settings, "L1.mlp", max_tokens=2000, progress=False)
    params = {"subject": "L1.mlp.3", "model": str(tiny_llama_dir), "budget": {"tool_calls": 6}}
    with process(worker_args(), env, log) as worker:
        wait_until(lambda: "ready" in log.read_text(errors="replace"), 60, "the worker to start", log)
        job_id = submit_investigation(settings, params)
        deadline = time.monotonic() + 60
        while job_investigation(engine, job_id) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        children = pool_children(worker.pid)
        assert len(children) == 1
        os.kill(children[0], signal.SIGKILL)  # the pool process dies mid-job
        first = job_investigation(engine, job_id)
        view = job_view(engine, job_id)
        assert first is not None and view.status == "running" and view.attempts == 1, view
        wait_until(lambda: finished(pg_url, job_id), 120, "the job to finish after the kill", log)
    assert "WorkerLostError" in log.read_text(errors="replace")
    view = job_view(engine, job_id)
    assert view.status == "succeeded" and view.attempts == 2, view
    with session(engine) as db:
        investigations = db.exec(select(Investigation).where(Investigation.job_id == job_id)).all()
        explanations = db.exec(select(Explanation).join(Investigation).where(Investigation.job_id == job_id)).all()
    assert [i.id for i in investigations] == [first] and investigations[0].status.value == "succeeded"
    assert [e.investigation_id for e in explanations] == [first]
