"""compose.yaml, validated against the code, and the same processes started natively.

Docker cannot run in CI here, so the compose file is checked for what would break it (services that
do not exist, dependencies on services without health checks, commands the CLI does not know,
environment variables nothing reads), and the service is then run as compose would run it: the API
(``autointerp serve``), a gpu and a cpu worker (``autointerp worker``) and ``autointerp beat``,
against the real Redis and PostgreSQL, with a label job driven through HTTP to the end.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import yaml

from autointerp.api.config import ApiSettings
from autointerp.cli.main import app as cli_app
from store.db import open_store
from store.settings import Settings
from tests.serve_helpers import free_port
from workers.watch_settings import WatchSettings

ROOT = Path(__file__).parent.parent
OURS = ("migrate", "api", "worker-gpu", "worker-cpu", "beat")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _env_read_by_code() -> set[str]:
    names = set()
    for settings in (Settings, ApiSettings, WatchSettings):
        prefix = settings.model_config.get("env_prefix", "")
        names |= {f"{prefix}{field}".upper() for field in settings.model_fields}
    return names


def test_compose_services_and_dependencies() -> None:
    services = _compose()["services"]
    assert set(OURS) | {"redis", "postgres", "flower"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        assert service.get("command") or name == "postgres", f"{name} has no command"
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            condition = spec["condition"]
            assert condition in ("service_healthy", "service_completed_successfully", "service_started"), name
            if condition == "service_healthy":
                assert services[dependency].get("healthcheck", {}).get("test"), f"{dependency} has no healthcheck"
            if condition == "service_completed_successfully":
                assert "restart" not in services[dependency], f"{dependency} is a one-shot job"
        if name != "migrate":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for port in service.get("ports", []):
            assert re.fullmatch(r"\d+:\d+", port), f"{name}: port {port!r} is not HOST:CONTAINER"
    for name in OURS:
        assert services[name]["build"] == "." and services[name]["image"] == "autointerp:latest", name
    assert (ROOT / "Dockerfile").is_file()


def test_compose_commands_are_real_cli_commands() -> None:
    services = _compose()["services"]
    group = typer.main.get_command(cli_app)
    assert hasattr(group, "get_command")
    for name in OURS:
        command = services[name]["command"]
        assert command[0] == "autointerp", name
        path = [part for part in command[1:] if not part.startswith("-")][:1]
        sub = group.get_command(None, path[0])  # type: ignore[arg-type]
        assert sub is not None, f"{name}: unknown command {path[0]}"
        rest = command[2:]
        if hasattr(sub, "get_command") and rest and not rest[0].startswith("-"):
            sub = sub.get_command(None, rest[0])
            rest = rest[1:]
        sub.make_context(path[0], list(rest))  # raises on an unknown option or a bad value
    api = services["api"]
    port = api["command"][api["command"].index("--port") + 1]
    assert api["ports"] == [f"{port}:{port}"]
    gpu, cpu = services["worker-gpu"], services["worker-cpu"]
    assert gpu["command"][2:] == ["--queues", "gpu", "--concurrency", "1"]
    assert cpu["command"][2:4] == ["--queues", "cpu"]
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert services["beat"]["command"] == ["autointerp", "beat"]


def test_compose_environment_is_what_the_code_reads() -> None:
    services = _compose()["services"]
    known = _env_read_by_code()
    for name in OURS:
        env = services[name]["environment"]
        assert env["AUTOINTERP_DB"].startswith("postgresql+psycopg://"), name
        assert env["AUTOINTERP_DB"].split("@")[1].startswith("postgres:5432/"), name
        assert env["AUTOINTERP_BROKER_URL"].startswith("redis://redis:6379/"), name
        for key in env:
            if key.startswith("AUTOINTERP_"):
                assert key in known, f"{name}: {key} is read by nothing (known: {sorted(known)})"
    assert "AUTOINTERP_API_KEY" in services["api"]["environment"]
    assert services["api"]["environment"]["AUTOINTERP_API_KEY"].startswith("${AUTOINTERP_API_KEY:?")
    assert services["worker-gpu"]["environment"]["AUTOINTERP_DEVICE"] == "cuda"
    broker = services["worker-cpu"]["environment"]["AUTOINTERP_BROKER_URL"]
    assert f"--broker={broker}" in services["flower"]["command"]


# ------------------------------------------------------------------------------- native processes


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "autointerp", *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # its own session: the worker's pool processes too
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[tuple[str, dict[str, str], Path]]:
    """API + gpu worker + cpu worker + beat as separate processes; yields (base URL, headers, logs)."""
    import redis

    prefix = f"t{uuid.uuid4().hex[:12]}:"
    key = uuid.uuid4().hex
    env = {
        **os.environ,
        "AUTOINTERP_HOME": str(tmp_path / "home"),
        "AUTOINTERP_DB": pg_url,
        "AUTOINTERP_BROKER_URL": "redis://127.0.0.1:6379/0",
        "AUTOINTERP_BROKER_PREFIX": prefix,
        "AUTOINTERP_API_KEY": key,
        "AUTOINTERP_TASK_TIME_LIMIT": "300",
        "AUTOINTERP_VISIBILITY_TIMEOUT": "400",
        "TRANSFORMERS_VERBOSITY": "error",
    }
    open_store(pg_url)  # the migrate service's job
    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    host = f"{uuid.uuid4().hex[:8]}"
    processes = [
        _start(["serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env, logs / "api.log"),
        _start(
            ["worker", "--queues", "gpu", "--concurrency", "1", "--hostname", f"gpu-{host}@%h"],
            env,
            logs / "worker-gpu.log",
        ),
        _start(
            ["worker", "--queues", "cpu", "--concurrency", "1", "--hostname", f"cpu-{host}@%h"],
            env,
            logs / "worker-cpu.log",
        ),
        _start(["beat"], env, logs / "beat.log"),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            dead = [p for p in processes if p.poll() is not None]
            assert not dead, "a process exited early:\n" + "\n".join(f.read_text()[-3000:] for f in logs.iterdir())
            try:
                if httpx.get(f"{base}/health", timeout=2).json()["status"] == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not come up:\n" + (logs / "api.log").read_text()[-3000:]
            time.sleep(0.5)
        yield base, {"Authorization": f"Bearer {key}"}, logs
    finally:
        for process in processes:
            _stop(process)
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        for name in client.scan_iter(match=f"{prefix}*"):
            client.delete(name)
        client.close()


@pytest.mark.services
def test_split_deployment_labels_and_investigates_through_http(
    stack: tuple[str, dict[str, str], Path], tiny_llama_dir: Path
) -> None:
    base, headers, logs = stack
    body = {
        "kind": "label",
        "model": str(tiny_llama_dir),
        "layer": 1,
        "units": "0:2",
        "agent": "builtin",
        "budget": 8,
        "max_tokens": 4000,
    }
    assert httpx.post(f"{base}/jobs", json=body, timeout=10).status_code == 401
    response = httpx.post(f"{base}/jobs", json=body, headers=headers, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    seen = set()
    deadline = time.monotonic() + 240
    while True:
        view = httpx.get(f"{base}/jobs/{job_id}", headers=headers, timeout=10).json()
        seen.add(view["status"])
        if view["status"] in ("succeeded", "failed"):
            break
        assert time.monotonic() < deadline, f"job {job_id} did not finish: {view}\n" + "\n".join(
            f"== {f.name}\n{f.read_text()[-2000:]}" for f in logs.iterdir()
        )
        time.sleep(1)
    assert view["status"] == "succeeded", view
    assert view["progress"] == {"done": 2, "total": 2}
    assert view["error"] is None
    hits = httpx.get(f"{base}/explanations", params={"model": str(tiny_llama_dir)}, headers=headers, timeout=10)
    assert sorted(h["subject"] for h in hits.json()) == ["L1.mlp.0", "L1.mlp.1"]

    # one investigation queued over HTTP on the workers (its agent on the cpu worker, tools on the gpu one)
    body = {"subject": "L1.mlp.2", "model": str(tiny_llama_dir), "executor": "celery", "budget": {"tool_calls": 6}}
    accepted = httpx.post(f"{base}/investigations", json=body, headers=headers, timeout=30)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job"]
    deadline = time.monotonic() + 120
    while (view := httpx.get(f"{base}/jobs/{job_id}", headers=headers, timeout=10).json())["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, f"investigate job {job_id} did not finish: {view}"
        time.sleep(0.5)
    assert view["status"] == "succeeded", view
    record = httpx.get(f"{base}/investigations/{view['investigation']}", headers=headers, timeout=10).json()
    assert record["investigation"]["status"] == "succeeded" and record["explanation"]["label"]
    assert {e["tool"] for e in record["experiments"]} <= {"exemplars", "activations", "ablate", "unit_logits", "steer"}

    # the split held: the cpu worker ran the agents (label units, the investigation) and sent every
    # model call to the gpu worker, which ran the exemplar-cache build and the tools
    time.sleep(1)
    gpu_log, cpu_log = (logs / "worker-gpu.log").read_text(), (logs / "worker-cpu.log").read_text()
    ran = re.compile(r"Task (autointerp\.\w+)\[[^\]]+\] received")
    on_gpu, on_cpu = ran.findall(gpu_log), ran.findall(cpu_log)  # (the banner lists every task name)
    assert set(on_gpu) == {"autointerp.label_prepare", "autointerp.run_tools"}, set(on_gpu)
    assert (
        {"autointerp.label_chunk", "autointerp.investigate"}
        <= set(on_cpu)
        <= {
            "autointerp.label_chunk",
            "autointerp.label_unit",  # a unit whose try failed is sent again on its own
            "autointerp.investigate",
            "autointerp.sweep",  # beat's, on its schedule
        }
    ), set(on_cpu)
    assert on_cpu.count("autointerp.label_chunk") >= 2  # small jobs: a chunk per unit
