"""The HTTP API (FastAPI TestClient) against a real SQLite store, and PostgreSQL for the services mark."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autointerp.api import create_app
from autointerp.cli.main import main
from store.errors import ConfigError
from store.settings import Settings
from tests.serve_helpers import sse_events

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
SUITE_LINES = [
    {"id": "num-line", "kind": "numeric", "code": "def f(x):\n    return 2*x + 1\n", "description": "linear 2x+1"},
]


@pytest.fixture
def suite(home: Path) -> Path:
    """A one-function suite file (a numeric function the builtin agent explains in seconds), in the
    API's data roots (``<home>/suites``: the API reads no suite file outside them)."""
    path = home / "suites" / "suite.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in SUITE_LINES))
    return path


def _client(home: Path, db: str) -> Iterator[TestClient]:
    app = create_app(Settings(home=home, db=db), api_key=KEY)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(home: Path, sqlite_url: str) -> Iterator[TestClient]:
    """The API on a fresh SQLite store."""
    yield from _client(home, sqlite_url)


def _wait_investigation(client: TestClient, investigation_id: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.get(f"/investigations/{investigation_id}", headers=AUTH).json()
        if record["investigation"]["status"] != "running":
            return record  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"investigation {investigation_id} still running after {timeout}s")


# ----------------------------------------------------------------------------------------- auth


def test_health_needs_no_key(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_every_route_but_health_needs_the_key(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/jobs", "/jobs/{job_id}", "/investigations", "/chat/{thread}", "/explanations", "/tools"} <= set(paths)
    for path, operations in paths.items():
        concrete = path.replace("{job_id}", "1").replace("{investigation_id}", "1")
        concrete = concrete.replace("{thread}", "1").replace("{name}", "activations")
        for method in operations:
            for headers in ({}, {"Authorization": "Bearer wrong-key-xxxx"}, {"Authorization": KEY}):
                response = client.request(method.upper(), concrete, headers=headers, json={})
                expected = 200 if path == "/health" else 401
                assert response.status_code == expected, (method, path, headers, response.text)
                if expected == 401:
                    assert response.headers["www-authenticate"] == "Bearer"


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "autointerp"
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert "swagger" in client.get("/docs").text.lower()


def test_refuses_to_start_without_a_key(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AUTOINTERP_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="AUTOINTERP_API_KEY is not set"):
        create_app(Settings(home=home))
    assert main(["serve", "--port", "1"]) == 2
    assert "AUTOINTERP_API_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("AUTOINTERP_API_KEY", "short")
    with pytest.raises(ConfigError, match="at least 8"):
        create_app(Settings(home=home))


# ----------------------------------------------------------------------------------------- jobs


def test_bad_job_bodies_are_422_with_a_readable_message(client: TestClient) -> None:
    cases = [
        (
            {"kind": "label", "model": "m", "layer": 0, "units": "4:2"},
            "body.label.units: units '4:2' is an empty range",
        ),
        ({"kind": "label", "model": "m", "units": "0:4"}, "body.label: give 'layer' (MLP neurons) or 'sae'"),
        ({"kind": "paint"}, "body: Input tag 'paint' found using 'kind' does not match"),
        ({"kind": "audit", "baseline": "a", "candidate": "b"}, "exactly one of 'units'"),
        ({"kind": "label", "model": "m", "layer": -1, "units": "0:4"}, "body.label.layer: Input should be greater"),
    ]
    for body, message in cases:
        response = client.post("/jobs", json=body, headers=AUTH)
        assert response.status_code == 422, body
        assert message in response.json()["detail"], response.json()["detail"]


def test_unknown_job_is_404(client: TestClient) -> None:
    response = client.get("/jobs/4242", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["detail"] == "no job with id 4242"


def test_audit_job_is_stored_and_visible(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr("workers.service_jobs.enqueue", lambda settings, kind, job_id: sent.append((kind, job_id)))
    body = {"kind": "audit", "baseline": "acme/ckpt-a", "candidate": "acme/ckpt-b", "units": ["L1.mlp.3"]}
    response = client.post("/jobs", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert sent == [("audit", job_id)]
    view = client.get(f"/jobs/{job_id}", headers=AUTH).json()
    assert view == {
        "id": job_id,
        "kind": "audit",
        "status": "queued",
        "progress": {"done": 0, "total": None},
        "error": None,
        "investigation": None,
    }


# ---------------------------------------------------------------------------------------- tools


def test_tools_list_and_call(client: TestClient, tiny_llama_dir: Path) -> None:
    tools = {t["name"]: t for t in client.get("/tools", headers=AUTH).json()}
    assert {"activations", "exemplars", "ablate", "call_function"} <= set(tools)
    assert tools["activations"]["input_schema"]["properties"]["subject"]
    assert tools["activations"]["output_schema"]["type"] == "object"

    args = {"model": str(tiny_llama_dir), "subject": "L1.mlp.3", "texts": ["The cat sat on the mat."]}
    response = client.post("/tools/activations", json=args, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["tool"] == "activations"

    missing = client.post("/tools/paint", json={}, headers=AUTH)
    assert missing.status_code == 404
    assert "unknown tool 'paint'" in missing.json()["detail"]
    bad_args = client.post("/tools/activations", json={"subject": 3}, headers=AUTH)
    assert bad_args.status_code == 422
    assert "invalid arguments for tool 'activations'" in bad_args.json()["detail"]
    out_of_range = client.post("/tools/activations", json={**args, "subject": "L9.mlp.3"}, headers=AUTH)
    assert out_of_range.status_code == 400
    assert "layer" in out_of_range.json()["detail"]


# ------------------------------------------------------------------------ investigations and chat


def _investigate_and_search(client: TestClient, suite: Path) -> None:
    bad = client.post("/investigations", json={"subject": f"{suite}#nope"}, headers=AUTH)
    assert bad.status_code == 400
    assert "no function with id 'nope'" in bad.json()["detail"]
    assert client.post("/investigations", json={"subject": "x", "agent": "gemini:pro"}, headers=AUTH).status_code == 400

    response = client.post(
        "/investigations", json={"subject": f"{suite}#num-line", "budget": {"tool_calls": 12}}, headers=AUTH
    )
    assert response.status_code == 202, response.text
    investigation_id = response.json()["id"]
    record = _wait_investigation(client, investigation_id)
    assert record["investigation"]["status"] == "succeeded"
    assert record["experiments"] and record["experiments"][0]["tool"] == "call_function"
    explanation = record["explanation"]
    assert explanation is not None and explanation["label"]
    assert client.get("/investigations/99999", headers=AUTH).status_code == 404

    word = explanation["label"].split()[0]
    hits = client.get("/explanations", params={"q": word.upper()}, headers=AUTH).json()
    assert [h["investigation_id"] for h in hits] == [investigation_id]
    assert hits[0]["subject"] == f"{suite}#num-line" and hits[0]["model"] is None
    assert client.get("/explanations", params={"q": "no such words anywhere"}, headers=AUTH).json() == []
    assert client.get("/explanations", params={"model": "smollm2-135m"}, headers=AUTH).json() == []
    assert client.get("/explanations", params={"q": "%"}, headers=AUTH).json() == []


def test_investigation_runs_and_is_searchable(client: TestClient, suite: Path) -> None:
    _investigate_and_search(client, suite)


def test_chat_streams_steps_as_server_sent_events(client: TestClient, suite: Path) -> None:
    response = client.post(
        "/chat/new", json={"subject": f"{suite}#num-line", "message": "what is f(3)?", "budget": 12}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "thread" and names[-1] == "done" and "reply" in names
    assert "error" not in names
    steps = [data["step"] for name, data in events if name == "step"]
    assert "tool" in steps and "explanation" in steps
    thread = events[0][1]["id"]

    again = sse_events(client.post(f"/chat/{thread}", json={"message": "what is f(10)?"}, headers=AUTH).text)
    assert again[0] == ("thread", {"id": thread})
    reply = next(data["text"] for name, data in again if name == "reply")
    assert reply

    assert client.post("/chat/99999", json={"message": "hi"}, headers=AUTH).status_code == 404
    missing_subject = client.post("/chat/new", json={"message": "hi"}, headers=AUTH)
    assert missing_subject.status_code == 422 and "subject" in missing_subject.json()["detail"]
    assert client.post("/chat/abc", json={"message": "hi"}, headers=AUTH).status_code == 422


@pytest.mark.services
def test_api_on_postgres(tmp_path: Path, pg_url: str, suite: Path) -> None:
    for client in _client(tmp_path / "home", pg_url):
        assert client.get("/health").json()["status"] == "ok"
        _investigate_and_search(client, suite)
