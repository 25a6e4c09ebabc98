"""The MCP server (autointerp.api.mcp) with the official SDK's client: in-process, over stdio with a
real ``autointerp mcp`` subprocess, and over streamable HTTP against a real ``autointerp serve``
(401 without the key). Every registry tool is listed with its schema, a real tool runs on a tiny
model, bad input is the API's one-line message as an MCP tool error, and the service tools
(explain, investigation, search_explanations, label, job) work with progress notifications."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from autointerp.api.mcp import build_server
from autointerp.api.mcp.catalog import SERVICE_TOOLS
from autointerp.api.state import ServiceState
from store.settings import Settings
from tests.serve_helpers import KEY, served
from tools.catalog import default_registry

SUITE_LINES = [
    {"id": "num-line", "kind": "numeric", "code": "def f(x):\n    return 2*x + 1\n", "description": "linear 2x+1"},
]
Session = Callable[[Client], Awaitable[None]]


@pytest.fixture
def service(home: Path, sqlite_url: str) -> Iterator[ServiceState]:
    """The state an MCP server works on: a fresh SQLite store and home."""
    state = ServiceState(settings=Settings(home=home, db=sqlite_url), api_key="")
    yield state
    state.close()


@pytest.fixture
def suite(home: Path) -> Path:
    """A one-function suite in the service's data roots (``<home>/suites``)."""
    path = home / "suites" / "suite.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in SUITE_LINES))
    return path


def _run(server: Any, session: Session) -> None:
    async def main() -> None:
        async with Client(server) as client:
            await session(client)

    anyio.run(main)


def _text(result: Any) -> str:
    assert len(result.content) == 1 and result.content[0].type == "text"
    text: str = result.content[0].text
    return text


async def _check_tools_and_errors(client: Client, model: str) -> None:
    """What every transport must do: list every tool, run one, refuse bad input with one line."""
    listed = {t.name: t for t in (await client.list_tools()).tools}
    registry = default_registry()
    assert set(registry.names()) <= set(listed)
    assert set(listed) == set(registry.names()) | {name for name, *_ in SERVICE_TOOLS}
    for spec in registry.specs():
        assert listed[spec.name].description == spec.description
        assert listed[spec.name].input_schema == spec.input_schema()

    args = {"model": model, "subject": "L1.mlp.3", "texts": ["The cat sat on the mat."]}
    ran = await client.call_tool("activations", args)
    assert not ran.is_error, _text(ran)
    result = ran.structured_content["result"]
    assert result["subject"] == "L1.mlp.3" and len(result["results"][0]["tokens"]) > 1
    assert json.loads(_text(ran))["tool"] == "activations"

    bad = await client.call_tool("activations", {"subject": 3})
    assert bad.is_error
    assert _text(bad).startswith("invalid arguments for tool 'activations': subject: Input should be a valid string")
    assert "\n" not in _text(bad) and "Traceback" not in _text(bad)
    out_of_range = await client.call_tool("activations", {**args, "subject": "L9.mlp.3"})
    assert out_of_range.is_error and "layer" in _text(out_of_range) and "\n" not in _text(out_of_range)
    unknown = await client.call_tool("paint", {})
    assert unknown.is_error and _text(unknown).startswith("unknown tool 'paint'")
    missing = await client.call_tool("investigation", {"id": 424242})
    assert missing.is_error and _text(missing) == "no investigation with id 424242"
    refused = await client.call_tool("job", {"id": 0})
    assert refused.is_error and _text(refused) == "arguments.id: Input should be greater than or equal to 1"


# ------------------------------------------------------------------------------------- in process


def test_in_process_tools_and_errors(service: ServiceState, tiny_llama_dir: Path) -> None:
    _run(build_server(service), lambda client: _check_tools_and_errors(client, str(tiny_llama_dir)))


def test_explain_investigation_and_search(service: ServiceState, suite: Path) -> None:
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    async def session(client: Client) -> None:
        bad = await client.call_tool("explain", {"subject": f"{suite}#nope"})
        assert bad.is_error and "no function with id 'nope'" in _text(bad)
        unknown_agent = await client.call_tool("explain", {"subject": "x", "agent": "gemini:pro"})
        assert unknown_agent.is_error and "\n" not in _text(unknown_agent)

        started = await client.call_tool(
            "explain",
            {"subject": f"{suite}#num-line", "budget": {"tool_calls": 12}, "wait": 120},
            progress_callback=on_progress,
        )
        assert not started.is_error, _text(started)
        out = started.structured_content
        assert out["status"] == "succeeded" and out["explanation"]["label"], out
        assert progress and all(total == 12 for _, total in progress)

        record = (await client.call_tool("investigation", {"id": out["id"]})).structured_content
        assert record["investigation"]["status"] == "succeeded"
        assert record["experiments"][0]["tool"] == "call_function"
        word = record["explanation"]["label"].split()[0]
        hits = (await client.call_tool("search_explanations", {"q": word.upper()})).structured_content["hits"]
        assert [h["investigation_id"] for h in hits] == [out["id"]]

    _run(build_server(service), session)


def test_label_and_job_report_progress(
    service: ServiceState, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``label`` queues the job as ``POST /jobs`` does; a worker (here: the local runner in a thread)
    labels it, and ``job`` with ``wait`` follows it to the end with progress notifications."""
    from workers.label import run_label_job_locally

    workers: list[threading.Thread] = []

    def enqueue(settings: Settings, job_id: int) -> None:
        worker = threading.Thread(target=run_label_job_locally, args=(settings, job_id), kwargs={"progress": False})
        workers.append(worker)
        worker.start()

    monkeypatch.setattr("workers.label.enqueue_label_job", enqueue)
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    async def session(client: Client) -> None:
        bad = await client.call_tool("label", {"model": str(tiny_llama_dir), "layer": 1, "units": "4:2"})
        assert (
            bad.is_error
            and _text(bad) == "arguments.units: units '4:2' is an empty range; the end must exceed the start"
        )
        args = {"model": str(tiny_llama_dir), "layer": 1, "units": "0:2", "budget": 4, "max_tokens": 1000}
        queued = await client.call_tool("label", args)
        assert not queued.is_error, _text(queued)
        job_id = queued.structured_content["id"]
        done = await client.call_tool("job", {"id": job_id, "wait": 240}, progress_callback=on_progress)
        assert not done.is_error, _text(done)
        assert done.structured_content["status"] == "succeeded", done.structured_content
        assert done.structured_content["progress"] == {"done": 2, "total": 2}
        assert progress[-1] == (2, 2)

    _run(build_server(service), session)
    for worker in workers:
        worker.join(timeout=60)


# ------------------------------------------------------------------------------------------ stdio


def test_stdio_subprocess(home: Path, tiny_llama_dir: Path) -> None:
    env = {**os.environ, "AUTOINTERP_HOME": str(home)}
    env.pop("AUTOINTERP_DB", None)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "autointerp", "mcp"], env=env, cwd=str(Path(__file__).parent.parent)
    )
    _run(params, lambda client: _check_tools_and_errors(client, str(tiny_llama_dir)))


# ------------------------------------------------------------------------------------------- HTTP


def test_streamable_http_behind_the_key(home: Path, tiny_llama_dir: Path) -> None:
    with served(home) as base:
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        for headers in ({}, {"Authorization": "Bearer wrong-key-xxxx"}, {"Authorization": KEY}):
            refused = httpx.post(f"{base}/mcp", json=initialize, headers=headers, timeout=30)
            assert refused.status_code == 401, refused.text
            assert refused.headers["www-authenticate"] == "Bearer"
            assert refused.json()["detail"] in (
                "invalid API key",
                "missing bearer token: send 'Authorization: Bearer <AUTOINTERP_API_KEY>'",
            )

        async def main() -> None:
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as http,
                Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
            ):
                await _check_tools_and_errors(client, str(tiny_llama_dir))

        anyio.run(main)
