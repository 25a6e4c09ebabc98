"""The API never reads a file it should not (issue 12, items 2, 3 and 7).

Every path a request names (a subject's suite, an eval job's suite, a patch ``pairs`` file, an
ablation ``dataset``) is read only under the data roots (the built-in suites and ``<home>/suites``
here), as a regular file within the size and line caps; anything else is a 4xx with one line that
reads the same whether the path exists or not. ``/dev/zero`` costs nothing (memory measured here).
Suites from elsewhere are uploaded (``POST /suites``) and addressed as ``suite:<name>``.
"""

from __future__ import annotations

import gc
import json
import os
import re
import shutil
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from autointerp.api import create_app
from store.db import open_store, session
from store.models import Job, StoredSuite
from store.settings import Settings

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
LINE = {"id": "lin", "kind": "numeric", "code": "def f(x):\n    return 2*x + 1\n", "description": "2x+1"}
NOT_AVAILABLE = "is not available: this service reads only regular files under its data roots (AUTOINTERP_DATA_ROOTS)"
REFUSED = re.compile(
    r"^(suite|pairs|corpus) file '[^']*' is not available: this service reads only regular files under its "
    r"data roots \(AUTOINTERP_DATA_ROOTS\)$"
)


@pytest.fixture
def client(home: Path, sqlite_url: str) -> Iterator[TestClient]:
    """The API on a fresh SQLite store; its data roots are the built-in suites and ``<home>/suites``."""
    (home / "suites").mkdir(parents=True)
    app = create_app(Settings(home=home, db=sqlite_url), api_key=KEY)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def hostile(home: Path, tmp_path: Path) -> list[str]:
    """Paths outside the roots, existing or not, and traps inside them."""
    secret = tmp_path / "secret.jsonl"
    secret.write_text(json.dumps(LINE) + "\n")
    data = home / "suites"
    (data / "escape.jsonl").symlink_to(secret)
    (data / "zero.jsonl").symlink_to("/dev/zero")
    os.mkfifo(data / "fifo.jsonl")
    (data / "folder.jsonl").mkdir()
    return [
        "/etc/passwd",
        "/etc/shadow",
        "/etc/no-such-file",
        "/etc",
        "/dev/zero",
        "/proc/self/environ",
        str(secret),
        str(tmp_path / "missing.jsonl"),
        "../../../../../../etc/passwd",
        "../secret.jsonl",
        "escape.jsonl",
        "zero.jsonl",
        "fifo.jsonl",
        "folder.jsonl",
        "missing.jsonl",
    ]


def one_refusal(response: object, path: str) -> str:
    """Assert a 400 with the one refusal line; return it with the path taken out."""
    assert response.status_code == 400, (path, response.text)  # type: ignore[attr-defined]
    detail = response.json()["detail"]  # type: ignore[attr-defined]
    assert REFUSED.match(detail), (path, detail)
    return re.sub(r"'[^']*'", "P", detail, count=1)


def rss_bytes() -> int:
    """Resident memory of this process (the API runs in it, under the TestClient)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------------------------ subjects


def test_call_function_reads_no_suite_outside_the_roots(client: TestClient, hostile: list[str]) -> None:
    messages = set()
    for path in hostile:
        response = client.post("/tools/call_function", json={"subject": f"{path}#x", "inputs": [1.0]}, headers=AUTH)
        messages.add(one_refusal(response, path))
    assert messages == {f"suite file P {NOT_AVAILABLE}"}
    # the built-in suites are a root: a relative name finds them
    builtin = client.post(
        "/tools/call_function", json={"subject": "sample.jsonl#num-parabola", "inputs": [10.0]}, headers=AUTH
    )
    assert builtin.status_code in (200, 400) and "not available" not in builtin.text, builtin.text


def test_dev_zero_costs_no_memory(client: TestClient, home: Path) -> None:
    """``/dev/zero`` used to be read as one endless line (7.9 GB in 18 s, never given back). Now it is
    refused before it is opened: the server's memory stays at its baseline, measured two ways."""
    (home / "suites" / "zero.jsonl").symlink_to("/dev/zero")
    requests = [
        ("/tools/call_function", {"subject": "/dev/zero#x", "inputs": [1.0]}),
        ("/tools/call_function", {"subject": "zero.jsonl#x", "inputs": [1.0]}),
        ("/tools/call_function", {"subject": "../../../../../../dev/zero#x", "inputs": [1.0]}),
        ("/jobs", {"kind": "eval", "suite": "/dev/zero"}),
        ("/investigations", {"subject": "/dev/zero#x"}),
    ]
    for route, body in requests:  # warm up: imports and caches on each route's first use
        client.post(route, json=body, headers=AUTH)
    gc.collect()
    baseline = rss_bytes()
    tracemalloc.start()
    try:
        for route, body in requests * 5:
            response = client.post(route, json=body, headers=AUTH)
            assert response.status_code == 400 and REFUSED.match(response.json()["detail"]), response.text
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    gc.collect()
    grown = rss_bytes() - baseline
    print(f"/dev/zero x25: traced peak {peak / 1e6:.2f} MB, RSS {baseline / 1e6:.1f} MB -> +{grown / 1e6:.2f} MB")
    assert peak < 8 << 20, f"the requests allocated {peak} bytes at their peak"
    assert grown < 32 << 20, f"the server's resident memory grew by {grown} bytes"


def test_investigations_and_chat_refuse_outside_subjects(client: TestClient, hostile: list[str]) -> None:
    for path in hostile[:6]:
        for executor in ("local", "celery"):  # celery: refused before anything is stored or sent
            response = client.post("/investigations", json={"subject": f"{path}#x", "executor": executor}, headers=AUTH)
            one_refusal(response, path)
        one_refusal(client.post("/chat/new", json={"subject": f"{path}#x"}, headers=AUTH), path)


# ------------------------------------------------------------------------------------------ eval jobs


def test_eval_jobs_refuse_outside_suites_and_store_nothing(
    client: TestClient, hostile: list[str], sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[int] = []
    monkeypatch.setattr("workers.service_jobs.enqueue", lambda settings, kind, job_id: sent.append(job_id))
    for path in hostile:
        one_refusal(client.post("/jobs", json={"kind": "eval", "suite": path}, headers=AUTH), path)
    with session(open_store(sqlite_url)) as db:
        assert db.exec(select(Job)).all() == []
    assert sent == []
    # a file of the roots without a valid line is refused too (it used to "succeed" with invalid items)
    client.app.state.service.settings.home.joinpath("suites", "junk.jsonl").write_text("root:x:0:0\n" * 30)  # type: ignore[attr-defined]
    junk = client.post("/jobs", json={"kind": "eval", "suite": "junk.jsonl"}, headers=AUTH)
    assert junk.status_code == 400 and junk.json()["detail"].startswith("suite junk.jsonl has no valid items (line 1")
    ok = client.post("/jobs", json={"kind": "eval", "suite": "sample.jsonl", "limit": 1}, headers=AUTH)
    assert ok.status_code == 202 and sent == [ok.json()["id"]]


def test_oversized_suite_and_overlong_line_in_the_roots_are_refused(
    home: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "suites").mkdir(parents=True)
    monkeypatch.setenv("AUTOINTERP_MAX_FILE_BYTES", "4096")
    monkeypatch.setenv("AUTOINTERP_MAX_LINE_BYTES", "512")
    (home / "suites" / "big.jsonl").write_text((json.dumps(LINE) + "\n") * 100)
    (home / "suites" / "wide.jsonl").write_text(json.dumps({**LINE, "description": "x" * 600}) + "\n")
    app = create_app(Settings(home=home, db=sqlite_url), api_key=KEY)
    with TestClient(app) as client:
        big = client.post("/tools/call_function", json={"subject": "big.jsonl#lin", "inputs": [1.0]}, headers=AUTH)
        assert big.status_code == 400
        size = (home / "suites" / "big.jsonl").stat().st_size
        assert big.json()["detail"] == (
            f"suite file 'big.jsonl' is {size} bytes, over the 4096-byte limit (AUTOINTERP_MAX_FILE_BYTES)"
        )
        wide = client.post("/jobs", json={"kind": "eval", "suite": "wide.jsonl"}, headers=AUTH)
        assert wide.status_code == 400
        assert (
            wide.json()["detail"]
            == "suite file 'wide.jsonl' line 1 is longer than 512 bytes (AUTOINTERP_MAX_LINE_BYTES)"
        )


# ------------------------------------------------------------------------------ pairs and datasets


def test_patch_pairs_and_ablate_dataset_obey_the_roots(
    client: TestClient, hostile: list[str], home: Path, tiny_llama_dir: Path
) -> None:
    model = str(tiny_llama_dir)
    for path in hostile[:8]:
        pairs = client.post("/tools/patch_activations", json={"model": model, "pairs": path}, headers=AUTH)
        assert pairs.status_code == 400, pairs.text
        detail = pairs.json()["detail"]
        assert detail.startswith("cannot read pairs: ") and REFUSED.match(detail.removeprefix("cannot read pairs: "))
        ablate = client.post("/tools/ablate", json={"model": model, "dataset": path, "n_texts": 2}, headers=AUTH)
        one_refusal(ablate, path)
    # inside the roots they are read
    (home / "suites" / "texts.txt").write_text("The cat sat on the mat.\n\nA dog ran in the park.\n")
    inside = client.post(
        "/tools/ablate",
        json={"model": model, "dataset": "texts.txt", "n_texts": 2, "targets": ["L0.mlp.1"]},
        headers=AUTH,
    )
    assert inside.status_code == 200, inside.text
    assert inside.json()["result"]["texts"] == ["The cat sat on the mat.", "A dog ran in the park."]
    pair = {
        "clean": "When Mary and John went",
        "corrupt": "When John and Mary went",
        "target": " Mary",
        "foil": " John",
    }
    (home / "suites" / "pairs.jsonl").write_text(json.dumps(pair) + "\n")
    patched = client.post("/tools/patch_activations", json={"model": model, "pairs": "pairs.jsonl"}, headers=AUTH)
    assert "not available" not in patched.text and "cannot read pairs" not in patched.text, patched.text


# ------------------------------------------------------------------------------------------ uploads


def test_upload_a_suite_and_run_it(client: TestClient, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [LINE, {**LINE, "id": "sq", "code": "def f(x):\n    return x*x\n", "description": "square"}]
    body = "".join(json.dumps(line) + "\n" for line in lines)
    created = client.post("/suites?name=mine", content=body, headers={**AUTH, "content-type": "application/x-ndjson"})
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["address"] == "suite:mine" and out["items"] == 2 and out["bytes"] == len(body.encode())
    as_json = client.post("/suites", json={"name": "mine2", "items": lines}, headers=AUTH)
    assert as_json.status_code == 201 and as_json.json()["address"] == "suite:mine2"
    listed = client.get("/suites", headers=AUTH).json()
    assert [s["address"] for s in listed if s["source"] == "upload"] == ["suite:mine2", "suite:mine"]
    assert {"sample.jsonl", "heldout_strings.jsonl"} <= {s["address"] for s in listed if s["source"] == "file"}

    # subjects suite:NAME#ID (and suite:ID#ID) reach the stored lines, not any file
    called = client.post("/tools/call_function", json={"subject": "suite:mine#sq", "inputs": [3.0]}, headers=AUTH)
    by_id = client.post(
        "/tools/call_function", json={"subject": f"suite:{out['id']}#sq", "inputs": [3.0]}, headers=AUTH
    )
    assert called.status_code == by_id.status_code
    if called.status_code == 200:  # (the sandbox runs the code; its own tests cover it)
        assert called.json()["result"]["outcomes"][0]["output"] == 9.0
    else:
        assert "not available" not in called.text and "no uploaded suite" not in called.text, called.text
    missing = client.post("/tools/call_function", json={"subject": "suite:nope#sq", "inputs": [3.0]}, headers=AUTH)
    assert (
        missing.status_code == 400
        and missing.json()["detail"] == "no uploaded suite suite:nope (GET /suites lists them)"
    )

    # an eval job on it: stored, then run here under the workers' policy
    sent: list[int] = []
    monkeypatch.setattr("workers.service_jobs.enqueue", lambda settings, kind, job_id: sent.append(job_id))
    job = client.post("/jobs", json={"kind": "eval", "suite": "suite:mine", "agent": "oracle"}, headers=AUTH)
    assert job.status_code == 202 and sent == [job.json()["id"]]
    from workers.service_jobs import run_service_job

    assert run_service_job(client.app.state.service.settings, sent[0]) == "ran"  # type: ignore[attr-defined]
    view = client.get(f"/jobs/{sent[0]}", headers=AUTH).json()
    assert view["status"] == "succeeded", view


def test_bad_uploads_are_refused_with_one_line(client: TestClient, sqlite_url: str) -> None:
    ndjson = {**AUTH, "content-type": "application/x-ndjson"}
    good = json.dumps(LINE) + "\n"
    cases = [
        (client.post("/suites", content=good, headers=ndjson), 422, "name: required"),
        (client.post("/suites?name=9lives", content=good, headers=ndjson), 422, "is not a suite name"),
        (client.post("/suites?name=../x", content=good, headers=ndjson), 422, "is not a suite name"),
        (client.post("/suites?name=e", content="", headers=ndjson), 422, "suite has no subjects"),
        (
            client.post("/suites?name=b", content=good + "{nope\n" + json.dumps({"id": "z"}) + "\n", headers=ndjson),
            422,
            "suite has 2 bad line(s): line 2 is not JSON",
        ),
        (client.post("/suites?name=d", content=good + good, headers=ndjson), 422, "id 'lin' already used on line 1"),
        (client.post("/suites?name=u", content=b"\xff\xfe", headers=ndjson), 422, "body: not UTF-8"),
        (client.post("/suites", json={"name": "j", "items": []}, headers=AUTH), 422, "body.items"),
        (client.post("/suites", content=b"[1", headers={**AUTH, "content-type": "application/json"}), 422, "not JSON"),
    ]
    for response, code, text in cases:
        assert response.status_code == code and text in response.json()["detail"], response.text
        assert "\n" not in response.json()["detail"]
    assert client.post("/suites?name=ok", content=good, headers=ndjson).status_code == 201
    taken = client.post("/suites?name=ok", content=good, headers=ndjson)
    assert taken.status_code == 409 and taken.json()["detail"].startswith("a suite named 'ok' already exists")
    with session(open_store(sqlite_url)) as db:
        assert [row.name for row in db.exec(select(StoredSuite)).all()] == ["ok"]


def test_uploads_are_size_limited(home: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOINTERP_MAX_FILE_BYTES", "2000")
    monkeypatch.setenv("AUTOINTERP_MAX_LINE_BYTES", "300")
    app = create_app(Settings(home=home, db=sqlite_url), api_key=KEY)
    ndjson = {**AUTH, "content-type": "application/x-ndjson"}
    with TestClient(app) as client:
        big = client.post("/suites?name=big", content=(json.dumps(LINE) + "\n") * 40, headers=ndjson)
        assert big.status_code == 413 and re.search(r"2000 bytes.*\(AUTOINTERP_MAX_FILE_BYTES\)", big.json()["detail"])

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
            for _ in range(40):
                yield (json.dumps(LINE) + "\n").encode()

        streamed = client.post("/suites?name=big", content=chunks(), headers=ndjson)
        assert streamed.status_code == 413
        assert re.search(r"2000 bytes.*\(AUTOINTERP_MAX_FILE_BYTES\)", streamed.json()["detail"])
        wide = client.post("/suites?name=wide", content=json.dumps({**LINE, "description": "x" * 400}), headers=ndjson)
        assert (
            wide.status_code == 422
            and wide.json()["detail"] == "line 1 is longer than 300 bytes (AUTOINTERP_MAX_LINE_BYTES)"
        )


MODEL_REFUSED = re.compile(
    r"^model '[^']*' is not available: this service loads the embedded model, hub ids, and model folders or "
    r"\.gguf files under its model roots \(AUTOINTERP_MODEL_ROOTS\)$"
)


def test_model_references_outside_the_model_roots_are_refused_alike(
    client: TestClient, tmp_path: Path, tiny_llama_dir: Path
) -> None:
    """A model folder or file outside the model roots is refused before anything is loaded or
    queued, with one message whether it exists, is a real model, or is not there at all; a model
    under the roots (the tests' tiny model) is served."""
    outside_model = tmp_path / "copied-model"
    shutil.copytree(tiny_llama_dir, outside_model)  # a real model, but outside the roots
    references = [
        "/etc",
        "/root",
        "/no/such/folder",
        str(tmp_path),
        str(tmp_path / "missing"),
        str(outside_model),
        "../../../../etc",
        "~/.cache",
        "/tmp/x.gguf",
        "weights.gguf",
        "a/b/c",
    ]
    details = set()
    for reference in references:
        args = {"model": reference, "subject": "L0.mlp.0", "texts": ["a"]}
        response = client.post("/tools/activations", json=args, headers=AUTH)
        assert response.status_code == 400, (reference, response.text)
        assert MODEL_REFUSED.match(response.json()["detail"]), response.json()["detail"]
        details.add(response.json()["detail"].replace(repr(reference), "R"))
        for body in (
            {"kind": "label", "model": reference, "layer": 0, "units": "0:2"},
            {"kind": "audit", "baseline": reference, "candidate": str(tiny_llama_dir), "units": ["L0.mlp.0"]},
        ):
            queued = client.post("/jobs", json=body, headers=AUTH)
            assert queued.status_code == 400 and MODEL_REFUSED.match(queued.json()["detail"]), (body, queued.text)
        started = client.post(
            "/investigations", json={"subject": "L0.mlp.0", "model": reference, "executor": "celery"}, headers=AUTH
        )
        assert started.status_code == 400 and MODEL_REFUSED.match(started.json()["detail"]), started.text
    assert len(details) == 1, details  # the answer never tells whether the path exists
    engine = open_store(client.app.state.service.settings.db_url())  # type: ignore[attr-defined]
    with session(engine) as db:
        assert db.exec(select(Job)).all() == []  # nothing was queued
    served = client.post(
        "/tools/activations", json={"model": str(tiny_llama_dir), "subject": "L0.mlp.0", "texts": ["a"]}, headers=AUTH
    )
    assert served.status_code == 200, served.text
