"""``autointerp serve`` in a subprocess on a free port, for tests that need a real server (MCP over
HTTP, the web UI in a browser)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The key the served API demands.
KEY = "test-key-0123456789"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sse_events(text: str) -> list[tuple[str, Any]]:
    """The (event, data) pairs of a server-sent-events body (``POST /chat/{thread}``), data as JSON."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def stop(server: subprocess.Popen[bytes]) -> None:
    """Terminate a server process, killing it when it does not exit within 30 s, and reap it."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextmanager
def served(home: Path, env: dict[str, str] | None = None, timeout: float = 120) -> Iterator[str]:
    """Run ``autointerp serve`` on a free port with ``home`` and the key `KEY`; yield its base URL.

    Jobs are sent to an in-memory broker (``memory://``): nothing runs them unless the test does
    (``workers.label.run_label_job_locally`` on the same home plays the worker).
    """
    port = free_port()
    full_env = {
        **os.environ,
        "AUTOINTERP_API_KEY": KEY,
        "AUTOINTERP_HOME": str(home),
        "AUTOINTERP_BROKER_URL": "memory://",
        "AUTOINTERP_RESULT_BACKEND": "cache+memory://",
        **(env or {}),
    }
    full_env.pop("AUTOINTERP_DB", None)
    log = (home.parent / f"serve-{port}.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "autointerp", "serve", "--port", str(port), "--log-level", "warning"],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parent.parent,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
                    assert json.load(answer)["status"] == "ok"
                break
            except OSError:
                if server.poll() is not None:
                    raise AssertionError(f"the server exited: {Path(log.name).read_text()[-2000:]}") from None
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield base
    finally:
        stop(server)
        log.close()
