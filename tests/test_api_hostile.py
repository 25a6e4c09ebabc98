"""Hostile input (issue 12): bad input never gets a 5xx, a hang or a silent change.

Every request below is a 4xx whose ``detail`` is one line naming the field, on SQLite and (services
mark) on PostgreSQL, and stores nothing: huge ids, offsets and counts (≥ 2**31, which PostgreSQL's
``integer`` refuses, and ≥ 2**63, which SQLite refuses), NUL characters and lone surrogates in
strings, overlong strings, NaN/Infinity in bodies, tool arguments with any of these, and bodies over
the limit (``AUTOINTERP_API_MAX_BODY_BYTES``: 413, refused while streaming; a real server's memory is
measured around 50 MB bodies). Also: a description formula such as ``f(x) ≈ 9**9**9**9`` is judged at
once (an eval job over the API finishes), non-finite floats a function returns survive the tool result,
the store, the API and the CLI's JSON as ``"NaN"``/``"Infinity"``/``"-Infinity"``, and an empty model
folder is named in one line.
"""

from __future__ import annotations

import json
import math
import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from autointerp.api import create_app
from store.errors import ConfigError
from store.settings import Settings
from tests.cli_helpers import cli_json
from tests.serve_helpers import free_port, stop

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_INT = 2**31 - 1
HUGE = [2**31, 2**63, 2**64]
MB = 2**20

NAN_SUITE = {
    "id": "nonfinite",
    "kind": "numeric",
    "code": (
        "def f(x):\n"
        "    if x < -64:\n        return float('nan')\n"
        "    if x > 64:\n        return float('inf')\n"
        "    if x == 0.25:\n        return float('-inf')\n"
        "    return 2 * x + 1\n"
    ),
    "description": "2x + 1 between -64 and 64; NaN below, +inf above",
}
FORMULA_SUITE = {
    "id": "tower",
    "kind": "numeric",
    "code": "def f(x):\n    return 2 * x\n",
    "description": "f(x) ≈ 9**9**9**9",
    "unit_tests": [{"options": ["f(1.5) ≈ 3", "f(1.5) ≈ 30", "f(1.5) ≈ -3"], "answer": 0}],
}


def _client(home: Path, db: str, **kwargs: Any) -> Iterator[TestClient]:
    app = create_app(Settings(home=home, db=db), api_key=KEY, **kwargs)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(home: Path, sqlite_url: str) -> Iterator[TestClient]:
    """The API on a fresh SQLite store (server errors come back as 500s, not exceptions)."""
    yield from _client(home, sqlite_url)


def _write_suite(home: Path, name: str, *lines: dict[str, Any]) -> Path:
    """A suite file in the API's data roots (the one inside ``home``: the service reads suites only there)."""
    from evals.suite import data_roots

    folder = next(root for root in data_roots(Settings(home=home)) if root == home or home in root.parents)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _strict_json(text: str) -> Any:
    """Parse ``text`` as standard JSON: a bare NaN/Infinity token is an error."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"non-standard JSON token {token} in {text[:200]!r}")

    return json.loads(text, parse_constant=refuse)


def _assert_refused(response: Any, status: int, *fragments: str) -> str:
    """A 4xx with the expected status and a one-line ``detail`` holding every fragment."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail, detail
    for fragment in fragments:
        assert fragment in detail, (fragment, detail)
    return detail


# ---------------------------------------------------------------------------------- the requests

Case = tuple[str, str, dict[str, Any], int, tuple[str, ...]]


def _huge_int_cases() -> list[Case]:
    le = f"less than or equal to {MAX_INT}"
    cases: list[Case] = []
    for n in HUGE:
        cases += [
            ("GET", f"/jobs/{n}", {}, 422, ("path.job_id", le)),
            ("GET", f"/investigations/{n}", {}, 422, ("path.investigation_id", le)),
            ("GET", "/explanations", {"params": {"offset": n}}, 422, ("query.offset", le)),
            ("GET", "/explanations", {"params": {"limit": n}}, 422, ("query.limit",)),
            ("POST", f"/chat/{n}", {"json": {"message": "hi"}}, 422, ("thread:", f"1 to {MAX_INT}")),
            (
                "POST",
                "/jobs",
                {"json": {"kind": "label", "model": "m", "layer": n, "units": "0:4"}},
                422,
                ("body.label.layer", le),
            ),
            (
                "POST",
                "/jobs",
                {"json": {"kind": "label", "model": "m", "layer": 0, "units": f"{n}:{n + 1}"}},
                422,
                ("body.label.units", f"above {MAX_INT}"),
            ),
            ("POST", "/jobs", {"json": {"kind": "eval", "suite": "s.jsonl", "limit": n}}, 422, ("body.eval.limit", le)),
            (
                "POST",
                "/investigations",
                {"json": {"subject": "L1.mlp.3", "budget": {"tokens": n}}},
                422,
                ("body.budget.tokens", le),
            ),
        ]
    cases += [
        (
            "POST",
            "/jobs",
            {"json": {"kind": "label", "model": "m", "layer": 0, "units": f"0:{MAX_INT}"}},
            422,
            ("body.label.units", f"names {MAX_INT} units; a job labels at most 65536"),
        ),
        ("GET", "/jobs/0", {}, 422, ("path.job_id", "greater than or equal to 1")),
        ("GET", "/jobs/-1", {}, 422, ("path.job_id",)),
        ("POST", "/chat/²", {"json": {"message": "hi"}}, 422, ("thread:",)),
        (
            "POST",
            "/tools/ioi_dataset",
            {"json": {"seed": 2**64}},
            422,
            ("invalid arguments for tool 'ioi_dataset'", "seed: integer out of range"),
        ),
    ]
    return cases


def _nul_cases() -> list[Case]:
    nul = "must not contain NUL characters"
    return [
        ("GET", "/explanations", {"params": {"q": "a\x00b"}}, 422, ("query.q", nul)),
        ("GET", "/explanations", {"params": {"model": "m\x00"}}, 422, ("query.model", nul)),
        ("POST", "/investigations", {"json": {"subject": "L1.mlp.3\x00"}}, 422, ("body.subject", nul)),
        (
            "POST",
            "/investigations",
            {"json": {"subject": "L1.mlp.3", "model": "m\x00", "executor": "celery"}},
            422,
            ("body.model", nul),
        ),
        ("POST", "/investigations", {"json": {"subject": "L1.mlp.3", "agent": "\x00"}}, 422, ("body.agent", nul)),
        (
            "POST",
            "/jobs",
            {"json": {"kind": "label", "model": "m\x00", "layer": 0, "units": "0:4"}},
            422,
            ("body.label.model", nul),
        ),
        ("POST", "/jobs", {"json": {"kind": "eval", "suite": "s\x00.jsonl"}}, 422, ("body.eval.suite", nul)),
        (
            "POST",
            "/jobs",
            {"json": {"kind": "audit", "baseline": "a\x00", "candidate": "b", "units": ["L1.mlp.3"]}},
            422,
            ("body.audit.baseline", nul),
        ),
        (
            "POST",
            "/jobs",
            {"json": {"kind": "audit", "baseline": "a", "candidate": "b", "units": ["L1.mlp.\x00"]}},
            422,
            ("body.audit.units.0", nul),
        ),
        ("POST", "/chat/new", {"json": {"subject": "L1.mlp.3\x00", "message": "hi"}}, 422, ("body.subject", nul)),
        ("POST", "/chat/1", {"json": {"message": "hi\x00"}}, 422, ("body.message", nul)),
        (
            "POST",
            "/tools/call_function",
            {"json": {"subject": "x\x00.jsonl#f", "inputs": [1]}},
            422,
            ("invalid arguments for tool 'call_function'", "subject:", nul),
        ),
        (
            "POST",
            "/tools/activations",
            {"json": {"subject": "L1.mlp.3", "texts": ["ok", "a\x00b"]}},
            422,
            ("texts.1:", nul),
        ),
        (
            "POST",
            "/jobs",
            {"content": '{"kind": "eval", "suite": "\\ud800.jsonl"}', "headers": {"content-type": "application/json"}},
            422,
            ("body.eval.suite", "valid string"),
        ),
    ]


def _size_and_value_cases() -> list[Case]:
    deep = "[" * 100_000 + "]" * 100_000
    return [
        (
            "POST",
            "/tools/activations",
            {"json": {"subject": "L1.mlp.3", "texts": [[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]}},
            422,
            ("nested deeper than 16 levels",),
        ),
        (
            "POST",
            "/jobs",
            {"content": '{"kind": "eval", "suite": ' + deep + "}", "headers": {"content-type": "application/json"}},
            400,
            ("error parsing the body",),
        ),
        ("POST", "/jobs", {"json": {"kind": "eval", "suite": "x" * 5000}}, 422, ("body.eval.suite", "at most 4096")),
        ("GET", "/explanations", {"params": {"q": "x" * 2000}}, 422, ("query.q", "at most 1000")),
        ("POST", "/chat/1", {"json": {"message": "x" * 200_000}}, 422, ("body.message", "at most 100000")),
        (
            "POST",
            "/tools/activations",
            {"json": {"subject": "L1.mlp.3", "texts": ["x" * 200_000]}},
            422,
            ("texts.0: 200000 characters; at most 100000",),
        ),
        (
            "POST",
            "/tools/steer",
            {"content": '{"prompt": "a", "alpha": Infinity}', "headers": {"content-type": "application/json"}},
            422,
            ("alpha: must be a finite number",),
        ),
        (
            "POST",
            "/jobs",
            {
                "content": '{"kind": "audit", "baseline": "a", "candidate": "b", "tracked": true, "tau": Infinity}',
                "headers": {"content-type": "application/json"},
            },
            422,
            ("body.audit.tau", "finite number"),
        ),
        (
            "POST",
            "/jobs",
            {"json": {"kind": "label", "model": "m", "layer": 0, "units": "0:4", "seconds": 1e300}},
            422,
            ("body.label.seconds",),
        ),
    ]


def _run_cases(client: TestClient, cases: list[Case]) -> None:
    for method, url, kwargs, status, fragments in cases:
        response = client.request(method, url, headers={**AUTH, **kwargs.pop("headers", {})}, **kwargs)
        assert response.status_code < 500, (method, url, response.text[:300])
        _assert_refused(response, status, *fragments)


def _assert_nothing_stored(client: TestClient) -> None:
    assert client.get("/jobs/1", headers=AUTH).status_code == 404
    assert client.get("/investigations/1", headers=AUTH).status_code == 404
    assert client.get("/explanations", headers=AUTH).json() == []


@pytest.fixture
def no_enqueue(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Jobs are stored but not sent to a broker; the list records what would have been sent."""
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr("workers.service_jobs.enqueue", lambda settings, kind, job_id: sent.append((kind, job_id)))
    monkeypatch.setattr("workers.label.enqueue_label_job", lambda settings, job_id: sent.append(("label", job_id)))
    return sent


def test_huge_integers_are_422_naming_the_field(client: TestClient, no_enqueue: list[Any]) -> None:
    _run_cases(client, _huge_int_cases())
    _assert_nothing_stored(client)
    assert no_enqueue == []


def test_nul_characters_are_422_naming_the_field(client: TestClient, no_enqueue: list[Any]) -> None:
    _run_cases(client, _nul_cases())
    _assert_nothing_stored(client)
    assert no_enqueue == []


def test_overlong_strings_and_non_finite_numbers_are_422(client: TestClient, no_enqueue: list[Any]) -> None:
    _run_cases(client, _size_and_value_cases())
    _assert_nothing_stored(client)


@pytest.mark.services
def test_hostile_requests_on_postgres(home: Path, pg_url: str, no_enqueue: list[Any]) -> None:
    """PostgreSQL refuses integers ≥ 2**31 and NULs itself (a 503 before): the API never gets that far."""
    for client in _client(home, pg_url):
        _run_cases(client, _huge_int_cases() + _nul_cases() + _size_and_value_cases())
        _assert_nothing_stored(client)
        ok = client.post("/jobs", json={"kind": "label", "model": "m", "layer": MAX_INT, "units": "0:4"}, headers=AUTH)
        assert ok.status_code == 202, ok.text
        assert client.get(f"/jobs/{MAX_INT}", headers=AUTH).status_code == 404
        hits = client.get("/explanations", params={"offset": MAX_INT, "q": "é ✓"}, headers=AUTH)
        assert hits.status_code == 200 and hits.json() == []


def test_the_limits_still_let_good_requests_through(client: TestClient, home: Path, no_enqueue: list[Any]) -> None:
    assert client.get(f"/jobs/{MAX_INT}", headers=AUTH).status_code == 404
    assert client.get(f"/investigations/{MAX_INT}", headers=AUTH).status_code == 404
    assert client.get("/explanations", params={"offset": MAX_INT, "q": "x" * 1000}, headers=AUTH).json() == []
    body = {"kind": "label", "model": "m" * 4096, "layer": MAX_INT, "units": f"{MAX_INT - 1}:{MAX_INT}"}
    response = client.post("/jobs", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    suite = _write_suite(home, "line.jsonl", FORMULA_SUITE)
    response = client.post("/jobs", json={"kind": "eval", "suite": str(suite), "limit": MAX_INT}, headers=AUTH)
    assert response.status_code == 202, response.text
    assert [kind for kind, _ in no_enqueue] == ["label", "eval"]


# ---------------------------------------------------------------------------------------- bodies


def test_a_50_mb_body_is_413_before_it_is_read(client: TestClient) -> None:
    big = {"kind": "eval", "suite": "x" * (50 * MB)}
    detail = _assert_refused(client.post("/jobs", json=big, headers=AUTH), 413, "request body too large")
    assert "the limit is 4194304 bytes (AUTOINTERP_API_MAX_BODY_BYTES)" in detail

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        yield b'{"kind": "eval", "suite": "'
        for _ in range(50):
            yield b"x" * MB
        yield b'"}'

    detail = _assert_refused(client.post("/jobs", content=chunks(), headers=AUTH), 413, "request body too large")
    assert "over the limit of 4194304 bytes" in detail
    unauthenticated = client.post("/jobs", json=big)
    assert unauthenticated.status_code == 413  # refused before anything else looks at it
    _assert_nothing_stored(client)


def test_the_body_limit_is_configurable(
    home: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, no_enqueue: list[Any]
) -> None:
    monkeypatch.setenv("AUTOINTERP_API_MAX_BODY_BYTES", "2000")
    for client in _client(home, sqlite_url):
        job = {"kind": "label", "layer": 0, "units": "0:4"}
        small = client.post("/jobs", json={**job, "model": "m" * 1500}, headers=AUTH)
        assert small.status_code == 202, small.text
        _assert_refused(
            client.post("/jobs", json={**job, "model": "m" * 2500}, headers=AUTH), 413, "limit is 2000 bytes"
        )
    for client in _client(home, sqlite_url, max_body_bytes=100):
        _assert_refused(client.post("/jobs", json={"kind": "eval", "suite": "x" * 200}, headers=AUTH), 413)
    monkeypatch.setenv("AUTOINTERP_API_MAX_BODY_BYTES", "lots")
    with pytest.raises(ConfigError, match=r"^AUTOINTERP_API_MAX_BODY_BYTES: Input should be a valid integer"):
        create_app(Settings(home=home, db=sqlite_url), api_key=KEY)


def _memory_mb(pid: int) -> dict[str, float]:
    """The process's resident memory now (VmRSS) and at its peak so far (VmHWM), in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(value.split()[0]) / 1024
    return values


def _raw_post(port: int, path: str, size: int, *, chunked: bool) -> tuple[int, str, int]:
    """POST ``size`` bytes of JSON whitespace over a raw socket, stopping as soon as the server answers.

    Returns (status, body, bytes of the body sent). With ``Content-Length`` the server may answer before
    any body byte is sent; with chunked encoding it answers once it has read past its limit.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {KEY}"]
    head += ["Content-Type: application/json"]
    head += ["Transfer-Encoding: chunked"] if chunked else [f"Content-Length: {size}"]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    if not chunked:
        select.select([sock], [], [], 2.0)  # the answer to the headers alone
    piece, sent = b" " * 65536, 0
    while sent < size and not select.select([sock], [], [], 0)[0]:
        n = min(len(piece), size - sent)
        try:
            sock.sendall(f"{n:x}\r\n".encode() + piece[:n] + b"\r\n" if chunked else piece[:n])
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            break
        sent += n
    raw = b""
    try:
        while True:
            got = sock.recv(65536)
            if not got:
                break
            raw += got
            head_bytes, sep, body = raw.partition(b"\r\n\r\n")
            lengths = [line for line in head_bytes.lower().split(b"\r\n") if line.startswith(b"content-length:")]
            if sep and lengths and len(body) >= int(lengths[0].split(b":")[1]):
                break
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        sock.close()
    head_bytes, _, body = raw.partition(b"\r\n\r\n")
    assert head_bytes, f"no answer after sending {sent} bytes"
    return int(head_bytes.split()[1]), body.decode(), sent


def test_a_real_server_refuses_50_mb_bodies_without_holding_them(tmp_path: Path) -> None:
    """``autointerp serve`` in a subprocess, its memory read from /proc before and after.

    Without the limit, each 50 MB body is read whole and parsed: the server's peak resident memory
    (VmHWM) grows by ~100 MB per body and stays there (measured: 308 → 610 MB after three). With it,
    the Content-Length body is answered before a byte of it is read and the chunked one after about
    the limit, so the peak grows by a few MB at most (the limit plus socket buffers); the bounds
    below (24 MB) leave room for allocator noise and are still a quarter of one body.
    """
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "AUTOINTERP_API_KEY": KEY, "AUTOINTERP_HOME": str(home)}
    env.pop("AUTOINTERP_DB", None)
    env.pop("AUTOINTERP_API_MAX_BODY_BYTES", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "autointerp", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).parent.parent,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                    assert json.load(answer)["status"] == "ok"
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        for _ in range(3):  # warm up: imports, the store, the validation path
            status, _, _ = _raw_post(port, "/jobs", 16, chunked=False)
            assert status == 422
        before = _memory_mb(server.pid)

        status, body, sent = _raw_post(port, "/jobs", 50 * MB, chunked=False)
        assert status == 413, body
        assert _strict_json(body)["detail"].startswith("request body too large: 52428800 bytes")
        assert sent < 4 * MB  # answered from the headers (in practice before any body byte)

        status, body, sent = _raw_post(port, "/jobs", 50 * MB, chunked=True)
        assert status == 413, body
        assert "over the limit of 4194304 bytes" in _strict_json(body)["detail"]
        assert sent < 20 * MB  # the server stopped reading soon after the limit

        after = _memory_mb(server.pid)
        print(f"server memory (MiB): before {before}, after {after}")
        assert after["VmHWM"] - before["VmHWM"] < 24, (before, after)
        assert after["VmRSS"] - before["VmRSS"] < 24, (before, after)
    finally:
        stop(server)


# --------------------------------------------------------------------------------------- formulas


def test_a_huge_formula_is_judged_at_once() -> None:
    """``f(x) ≈ 9**9**9**9`` used to hang ``eval`` (a 10**8-digit integer); now it overflows in floats.
    In a subprocess, so that a regression fails on its timeout instead of hanging the test run."""
    code = (
        "import time\n"
        "from evals.judges.interpret import InterpretingEvaluator, interpret_numeric\n"
        "class Fallback:\n"
        "    name = 'fallback'\n"
        "    def choose(self, description, options): return 2\n"
        "    def detect(self, description, texts): return []\n"
        "judge = InterpretingEvaluator(fallback=Fallback())\n"
        "options = ['f(1.5) ≈ 3', 'f(1.5) ≈ 30', 'f(1.5) ≈ -3']\n"
        "start = time.perf_counter()\n"
        "for text in ['f(x) ≈ 9**9**9**9', 'f(x) ≈ 9 ** 9 ** 9 ** 9 on the grid', 'f(x) = 10.0**(10*x)**3',\n"
        "             'f(x) ≈ floor(1e308)**floor(1e308)', 'f(x) ≈ (10**400)*x', 'f(x) ≈ ' + 'x+' * 10000 + 'x',\n"
        "             'f(x) ≈ ' + '(' * 5000 + 'x' + ')' * 5000, 'f(x) ≈ ' + '-' * 100000 + 'x']:\n"
        "    assert judge.choose(text, options) == 2, text\n"
        "assert judge.choose('f(x) ≈ 2*x', options) == 0\n"
        "assert interpret_numeric('f(x) ≈ 2^10 + ceil(x)')(1.5) == 1026.0\n"
        "print(time.perf_counter() - start)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parent.parent,
    )
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.strip().splitlines()[-1]) < 1.0


def test_an_eval_job_with_a_huge_formula_finishes(
    client: TestClient, home: Path, sqlite_url: str, no_enqueue: list[tuple[str, int]]
) -> None:
    """Over the API: an eval job whose (oracle) description is ``f(x) ≈ 9**9**9**9`` runs to the end;
    the formula is uninterpretable, so its unit test goes to the fallback evaluator like prose."""
    from workers.service_jobs import eval_folder, run_service_job

    suite = _write_suite(home, "tower.jsonl", FORMULA_SUITE)
    response = client.post(
        "/jobs", json={"kind": "eval", "suite": str(suite), "agent": "oracle", "evaluator": "interpret"}, headers=AUTH
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert no_enqueue == [("eval", job_id)]
    settings = Settings(home=home, db=sqlite_url)
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(run_service_job(settings, job_id)), daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout=300)
    assert not worker.is_alive(), "the eval job hangs on the formula"
    view = client.get(f"/jobs/{job_id}", headers=AUTH).json()
    assert view["status"] == "succeeded", view
    result = json.loads((eval_folder(settings, job_id) / "result.json").read_text())
    [item] = result["items"]
    assert item["error"] is None and item["unit_test_acc"] in (0.0, 1.0), item
    print(f"eval job with the formula: {time.monotonic() - started:.1f} s")


# ---------------------------------------------------------------------------------- NaN and ±inf


def test_the_nonfinite_encoding() -> None:
    from store.jsonsafe import decode_float, dumps, encode_nonfinite, jsonable

    class Inner(BaseModel):
        output: Any = None
        value: float = 0.0

    class Outer(BaseModel):
        values: list[float]
        inner: list[Inner]

    model = Outer(values=[math.nan, 1.5, -math.inf], inner=[Inner(output=math.inf, value=math.nan)])
    data = jsonable(model)
    assert data == {
        "values": ["NaN", 1.5, "-Infinity"],
        "inner": [{"output": "Infinity", "value": "NaN"}],
    }
    assert _strict_json(dumps(model)) == data
    again = Outer.model_validate(data)  # float fields read the strings back
    assert math.isnan(again.values[0]) and again.values[2] == -math.inf and math.isnan(again.inner[0].value)
    assert again.inner[0].output == "Infinity"  # an Any field keeps the string; decode_float reads it
    assert decode_float("Infinity") == math.inf and decode_float("-Infinity") == -math.inf
    assert math.isnan(decode_float("NaN") or 0.0)
    assert decode_float(2) == 2.0 and decode_float("2") is None and decode_float(True) is None
    plain = {"a": [1, 2.5, "x"], "b": None}
    assert encode_nonfinite(plain) is plain  # nothing to encode: no copy


def test_nan_and_inf_survive_tool_store_api_and_cli(client: TestClient, home: Path, sqlite_url: str) -> None:
    """A function returning NaN, +inf and -inf: the tool result (API and CLI), the stored experiments of
    an investigation (API and ``autointerp show --json``) all carry "NaN"/"Infinity"/"-Infinity", as
    strict JSON; the builtin numeric scientist reads them as floats (undefined points, not a fit)."""
    _nan_round_trip(client, home, sqlite_url)


@pytest.mark.services
def test_nan_and_inf_survive_postgres(home: Path, pg_url: str) -> None:
    """The same on PostgreSQL, whose JSONB refuses the NaN token ``json.dumps`` writes."""
    for client in _client(home, pg_url):
        _nan_round_trip(client, home, pg_url)


def _nan_round_trip(client: TestClient, home: Path, db_url: str) -> None:
    suite = _write_suite(home, "nonfinite.jsonl", NAN_SUITE)
    subject = f"{suite}#nonfinite"
    expected = ["NaN", "Infinity", "-Infinity", 3.0]

    response = client.post(
        "/tools/call_function", json={"subject": subject, "inputs": [-100, 100, 0.25, 1]}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert [o["output"] for o in _strict_json(response.text)["result"]["outcomes"]] == expected

    env = {"AUTOINTERP_DB": db_url}
    args = json.dumps({"subject": subject, "inputs": [-100, 100, 0.25, 1]})
    called = cli_json("tools", "call", "call_function", "--args", args, home=home, env=env)
    assert [o["output"] for o in called["outcomes"]] == expected

    started = client.post("/investigations", json={"subject": subject, "budget": {"tool_calls": 6}}, headers=AUTH)
    assert started.status_code == 202, started.text
    investigation_id = started.json()["id"]
    deadline = time.monotonic() + 300
    while True:
        answer = client.get(f"/investigations/{investigation_id}", headers=AUTH)
        record = _strict_json(answer.text)
        if record["investigation"]["status"] != "running":
            break
        assert time.monotonic() < deadline, "the investigation did not finish"
        time.sleep(0.3)
    assert record["investigation"]["status"] == "succeeded", record["investigation"]
    outputs = [
        o.get("output")
        for e in record["experiments"]
        if e["tool"] == "call_function"
        for o in (e["result_summary"].get("result") or {}).get("outcomes", [])
    ]
    assert "NaN" in outputs and "Infinity" in outputs and None not in outputs

    shown = cli_json("show", str(investigation_id), home=home, env=env)
    shown_outputs = [
        o.get("output")
        for e in shown["experiments"]
        if e["tool"] == "call_function"
        for o in (e["result_summary"].get("result") or {}).get("outcomes", [])
    ]
    assert shown_outputs == outputs
    explanation = record["explanation"]
    assert explanation is not None
    # the numeric policy read NaN and +inf as undefined points: its fit is the finite middle, 2x + 1,
    # and the domain names where the function is not finite
    assert "2*x + 1" in explanation["label"], explanation
    domain = explanation["domain"]
    assert "[-128, -64.5]" in domain and "[64.5, 128]" in domain and "non-finite" in domain, domain


# ---------------------------------------------------------------------------------- model folders


def test_an_empty_model_folder_is_named_in_one_line(client: TestClient, tmp_path: Path, model_root: Path) -> None:
    from store.errors import ModelLoadError
    from tools.runtime.loading import load_model

    empty = model_root / f"empty-model-{tmp_path.name}"  # under the model roots: the API may load it
    empty.mkdir()
    with pytest.raises(ModelLoadError) as caught:
        load_model(str(empty), Settings(home=tmp_path / "home"))
    assert str(caught.value) == f"no config.json in {empty}"
    (empty / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match=r"^no weight files \(\*\.safetensors or \*\.bin\) in "):
        load_model(str(empty), Settings(home=tmp_path / "home"))
    (empty / "config.json").unlink()

    response = client.post(
        "/tools/activations", json={"model": str(empty), "subject": "L0.mlp.0", "texts": ["a"]}, headers=AUTH
    )
    _assert_refused(response, 400, f"no config.json in {empty}")


def test_a_folder_without_a_tokenizer_is_named(tmp_path: Path, tiny_llama_dir: Path) -> None:
    import shutil

    from store.errors import ModelLoadError
    from tools.runtime.loading import TOKENIZER_FILES, load_model

    folder = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_llama_dir, folder)
    for path in folder.iterdir():
        if path.name in TOKENIZER_FILES or path.name.startswith(("tokenizer", "special_tokens")):
            path.unlink()
    with pytest.raises(ModelLoadError, match=r"^no tokenizer files \(tokenizer\.json, .*\) in .*no-tokenizer$"):
        load_model(str(folder), Settings(home=tmp_path / "home"))


# ------------------------------------------------------------------------------ tool arguments


def test_tool_arguments_are_checked_on_every_surface(tmp_path: Path) -> None:
    """The same check guards the agent's calls (the executor) and the CLI: one line naming the field."""
    from tools.catalog import default_registry
    from tools.context import ToolContext
    from tools.executor import LocalExecutor, ToolCall

    executor = LocalExecutor(default_registry(), ToolContext(settings=Settings(home=tmp_path / "home")), cache=False)
    bad = {
        "texts.0": {"subject": "L1.mlp.3", "texts": ["a\x00b"]},
        "seed": {"seed": -(2**70)},
        "alpha": {"prompt": "a", "alpha": math.nan},
        "(arguments)": {"prompt": "a", "k\x00": 1},
    }
    tools = {"texts.0": "activations", "seed": "ioi_dataset", "alpha": "steer", "(arguments)": "steer"}
    for field, args in bad.items():
        result = executor.run(ToolCall(tool=tools[field], args=args))
        assert not result.ok and result.field == field, result
        assert result.error is not None and "\n" not in result.error and f"{field}:" in result.error
    executor.close()
