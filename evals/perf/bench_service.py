"""Benchmark: the Celery service's cost over running in-process.

Run ``python -m evals.perf.bench_service [--model PATH] [--calls 200] [--units 8]``. Needs Redis
(``AUTOINTERP_BROKER_URL``, default the local one; a fresh key prefix keeps runs apart). Starts one
real ``autointerp worker`` subprocess (prefork, concurrency 1, queues gpu,cpu) and prints a table;
asserts nothing about time:

1. per-call latency of a cheap tool (``activations`` on one short, never-repeated text, so no result
   cache hit) through ``CeleryExecutor`` vs ``LocalExecutor``: p50 and p99, and their ratio;
2. units labeled per hour by a label job (builtin agent, ``--budget`` tool calls per unit) on one
   worker, vs the same job run in-process (``--executor local``); the layer's exemplar cache is
   built before timing;
3. N concurrent investigations whose tools run through ``CeleryExecutor`` (one thread each, one
   worker), vs the same N one after another in-process;
4. ``--api-concurrent`` (8) investigations posted at once to ``POST /investigations`` of an
   ``autointerp serve`` started here (or ``--api URL --api-key KEY``): with ``executor: celery``
   (investigate jobs; an extra cpu-only worker of ``--cpu-concurrency`` processes runs the agents and
   sends their tools to the gpu,cpu worker) vs ``executor: local`` (the API process runs them one at
   a time): wall time, investigations per minute, and p50/p99 latency from POST to finished.

Without ``--model`` a tiny random Llama (4 layers, d_model 64, 96 MLP neurons) is built in a temporary
folder, so the numbers measure the service's overhead rather than a model's speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from store.settings import Settings
from tools.runtime.testing import build_tiny_model


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def per_call_latency(executor: Any, model: str, calls: int, tag: str) -> list[float]:
    """Seconds per ``activations`` call on a fresh one-line text (no result-cache hits)."""
    from tools.executor import ToolCall

    times = []
    for i in range(calls + 5):
        call = ToolCall(tool="activations", args={"model": model, "subject": "L1.mlp.3", "texts": [f"{tag} {i} x"]})
        started = time.perf_counter()
        outcome = executor.run(call)
        elapsed = time.perf_counter() - started
        if not outcome.ok:
            raise RuntimeError(outcome.error)
        if i >= 5:  # the first calls load the model
            times.append(elapsed)
    return times


def label_rate(settings: Settings, model: str, units: int, budget: int, executor: str, start: int) -> float:
    """Units per hour of a label job of ``units`` units (the exemplar cache already built)."""
    from store.db import open_store
    from workers.jobs import job_view
    from workers.label import submit_label_job

    params = {"model": model, "layer": 1, "start": start, "stop": start + units, "budget": budget, "max_tokens": 2000}
    started = time.perf_counter()
    job_id = submit_label_job(settings, params, executor)
    engine = open_store(settings.db_url())
    while job_view(engine, job_id).status in ("queued", "running"):
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    view = job_view(engine, job_id)
    if view.status != "succeeded":
        raise RuntimeError(f"label job {job_id} {view.status}: {view.error}")
    return units / elapsed * 3600


def concurrent_investigations_celery(settings: Settings, model: str, n: int, budget: int) -> float:
    """Wall seconds for ``n`` investigations started together, tools on workers via CeleryExecutor.

    The client process resolves subjects with one shared, pre-loaded model (loading a model from
    several threads at once is not safe in transformers).
    """
    from agent.graph import Budget
    from agent.runner import Session, make_brain
    from tools.context import ToolContext
    from workers.executor import CeleryExecutor

    ctx = ToolContext(settings=settings)
    ctx.runtime(model)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            run = Session(settings, executor=CeleryExecutor(settings=settings), ctx=ctx)
            investigation_id, first = run.create(f"L1.mlp.{60 + i}", model, "builtin", Budget(tool_calls=budget))
            run.run(investigation_id, make_brain("builtin"), first)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} investigations failed: {errors[0]}")
    return time.perf_counter() - started


def sequential_investigations_local(settings: Settings, model: str, n: int, budget: int, offset: int) -> float:
    """Wall seconds for ``n`` investigations one after another in this process (the baseline)."""
    from agent.graph import Budget
    from agent.runner import explain

    started = time.perf_counter()
    for i in range(n):
        explain(f"L1.mlp.{offset + i}", model=model, settings=settings, budget=Budget(tool_calls=budget))
    return time.perf_counter() - started


class ApiRun:
    """N investigations started together through the HTTP API: wall seconds and per-investigation
    latencies (POST until the investigation is finished)."""

    def __init__(self, wall: float, latencies: list[float]) -> None:
        self.wall = wall
        self.latencies = latencies

    def per_minute(self) -> float:
        """Investigations finished per minute."""
        return len(self.latencies) / self.wall * 60


def concurrent_investigations_via_api(
    base_url: str,
    model: str,
    n: int,
    budget: int,
    *,
    api_key: str,
    executor: str = "celery",
    offset: int = 0,
    timeout: float = 600.0,
) -> ApiRun:
    """``n`` investigations of units ``L1.mlp.{offset}..`` posted together (one thread each) to the API
    at ``base_url`` with ``executor`` (``celery``: investigate jobs on the workers, polled through
    ``GET /jobs/{id}``; ``local``: in the API process, polled through ``GET /investigations/{id}``).
    Raises RuntimeError when one fails."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"}
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def finished(client: httpx.Client, accepted: dict[str, Any]) -> str | None:
        if executor == "celery":
            view = client.get(f"/jobs/{accepted['job']}").json()
            done = view["status"] in ("succeeded", "failed")
            return (view["error"] or view["status"]) if done else None
        record = client.get(f"/investigations/{accepted['id']}").json()
        status = str(record["investigation"]["status"])
        return status if status != "running" else None

    def one(i: int) -> None:
        body = {
            "subject": f"L1.mlp.{offset + i}",
            "model": model,
            "agent": "builtin",
            "executor": executor,
            "budget": {"tool_calls": budget},
        }
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
            started = time.perf_counter()
            response = client.post("/investigations", json=body)
            if response.status_code != 202:
                with lock:
                    errors.append(f"{response.status_code} {response.text}")
                return
            accepted = response.json()
            outcome = None
            while outcome is None and time.perf_counter() - started < timeout:
                time.sleep(0.05)
                outcome = finished(client, accepted)
            elapsed = time.perf_counter() - started
        with lock:
            if outcome != "succeeded":
                errors.append(f"L1.mlp.{offset + i}: {outcome or 'timed out'}")
            latencies.append(elapsed)

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} of {n} investigations through the API failed: {errors[0]}")
    return ApiRun(wall, latencies)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_api(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """``autointerp serve`` on a free port with a fresh key; (process, base URL, key) once healthy."""
    import httpx

    key = uuid.uuid4().hex
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autointerp",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**env, "AUTOINTERP_API_KEY": key},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited early:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=2).json().get("status") == "ok":
                return process, base, key
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the API did not come up:\n{log.read_text()[-2000:]}")


def main(argv: list[str] | None = None) -> None:
    """Start a worker, run the measurements, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="HF folder or name (default: a tiny random Llama built here)")
    parser.add_argument("--calls", type=int, default=200, help="tool calls per executor")
    parser.add_argument("--units", type=int, default=8, help="units per label job")
    parser.add_argument("--budget", type=int, default=8, help="tool calls per investigation")
    parser.add_argument("--concurrent", type=int, default=4, help="concurrent investigations (CeleryExecutor)")
    parser.add_argument("--api-concurrent", type=int, default=8, help="concurrent investigations through the API")
    parser.add_argument(
        "--cpu-concurrency", type=int, default=2, help="processes of the extra cpu-only worker of the API measurement"
    )
    parser.add_argument("--api", help="base URL of a running API (default: start `autointerp serve` here)")
    parser.add_argument("--api-key", help="key of the running API given with --api")
    args = parser.parse_args(argv)
    if args.api and not args.api_key:
        parser.error("--api needs --api-key")

    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    model = args.model or str(build_tiny_model(tmp / "tiny-llama", "llama"))
    env = {
        **os.environ,
        "AUTOINTERP_HOME": str(tmp / "home"),
        "AUTOINTERP_BROKER_PREFIX": f"bench{uuid.uuid4().hex[:8]}:",
        "TRANSFORMERS_VERBOSITY": "error",
    }
    env.setdefault("AUTOINTERP_DB", f"sqlite:///{tmp / 'home' / 'autointerp.db'}")
    os.environ.update({k: env[k] for k in ("AUTOINTERP_HOME", "AUTOINTERP_BROKER_PREFIX", "AUTOINTERP_DB")})
    settings = Settings()
    settings.ensure_home()

    from store.db import open_store
    from tools.catalog import default_registry
    from tools.context import ToolContext
    from tools.executor import LocalExecutor
    from workers.executor import CeleryExecutor

    open_store(settings.db_url())
    processes: list[subprocess.Popen[bytes]] = []

    def start_worker(queues: str, concurrency: int, name: str) -> None:
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "autointerp", "worker", "--queues", queues, "--concurrency", str(concurrency)],
                env=env,
                stdout=(tmp / f"{name}.log").open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    start_worker("gpu,cpu", 1, "worker")
    n_api = args.api_concurrent
    try:
        local = LocalExecutor(default_registry(), ToolContext(settings=settings))
        remote = CeleryExecutor(settings=settings, timeout=120)
        local_t = per_call_latency(local, model, args.calls, "local")
        celery_t = per_call_latency(remote, model, args.calls, "celery")

        # warm-up: the layer's cache and the worker's model, then timed jobs on fresh units
        label_rate(settings, model, 1, args.budget, "celery", 90)
        celery_rate = label_rate(settings, model, args.units, args.budget, "celery", 0)
        local_rate = label_rate(settings, model, args.units, args.budget, "local", 40)

        n = args.concurrent
        conc = concurrent_investigations_celery(settings, model, n, args.budget)
        seq = sequential_investigations_local(settings, model, n, args.budget, 70)

        # through the HTTP API: celery (investigate jobs; the extra cpu worker's agents send their
        # tools to the gpu,cpu worker) vs local (the API process runs them one at a time)
        start_worker("cpu", args.cpu_concurrency, "worker-cpu")
        if args.api:
            base, key = args.api, args.api_key
        else:
            api, base, key = start_api(env, tmp / "api.log")
            processes.append(api)
        concurrent_investigations_via_api(base, model, 1, args.budget, api_key=key, executor="local", offset=95)
        concurrent_investigations_via_api(base, model, 2, args.budget, api_key=key, executor="celery", offset=93)
        via_celery = concurrent_investigations_via_api(
            base, model, n_api, args.budget, api_key=key, executor="celery", offset=10
        )
        via_local = concurrent_investigations_via_api(
            base, model, n_api, args.budget, api_key=key, executor="local", offset=20
        )
    finally:
        for process in processes:
            os.killpg(process.pid, 15)
        for process in processes:
            process.wait(timeout=30)

    print(f"\nservice benchmark — model: {'tiny random Llama (d_model 64)' if not args.model else model}; ")
    print("one `autointerp worker` (prefork, concurrency 1, queues gpu,cpu), Redis broker + result backend;")
    print(f"for the API rows also a cpu-only worker (concurrency {args.cpu_concurrency}) and `autointerp serve`\n")
    print(f"{'measurement':<44}{'celery':>12}{'local':>12}{'ratio':>10}")
    for q, name in ((0.5, "activations call p50 (ms)"), (0.99, "activations call p99 (ms)")):
        c, lo = 1000 * _pct(celery_t, q), 1000 * _pct(local_t, q)
        print(f"{name:<44}{c:>12.2f}{lo:>12.2f}{c / lo:>9.1f}x")
    overhead = 1000 * (statistics.median(celery_t) - statistics.median(local_t))
    print(f"{'  median overhead per call (ms)':<44}{overhead:>12.2f}")
    rate = f"{celery_rate:>12.0f}{local_rate:>12.0f}{celery_rate / local_rate:>9.2f}x"
    print(f"{'units labeled per hour (label job)':<44}{rate}")
    print(f"{f'{n} concurrent, CeleryExecutor (s)':<44}{conc:>12.2f}{seq:>12.2f}{conc / seq:>9.2f}x")
    print("  (local column: the same investigations one after another in-process)")
    rows = (
        (f"{n_api} via API: wall (s)", via_celery.wall, via_local.wall),
        (f"{n_api} via API: investigations per minute", via_celery.per_minute(), via_local.per_minute()),
        (f"{n_api} via API: latency p50 (s)", _pct(via_celery.latencies, 0.5), _pct(via_local.latencies, 0.5)),
        (f"{n_api} via API: latency p99 (s)", _pct(via_celery.latencies, 0.99), _pct(via_local.latencies, 0.99)),
    )
    for name, c, lo in rows:
        print(f"{name:<44}{c:>12.2f}{lo:>12.2f}{c / lo:>9.2f}x")
    print("  (API rows: POST /investigations with executor celery vs local, all posted at once)")


if __name__ == "__main__":
    main()
