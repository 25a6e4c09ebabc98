"""Run the real ``autointerp`` console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "autointerp"]


def run_cli(
    *args: str, home: Path | None = None, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``autointerp ARGS``; ``home`` becomes AUTOINTERP_HOME."""
    full_env = {**os.environ, **(env or {})}
    if home is not None:
        full_env["AUTOINTERP_HOME"] = str(home)
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
        cwd=Path(__file__).parent.parent,
    )


def cli_json(*args: str, home: Path | None = None, env: dict[str, str] | None = None) -> Any:
    """Run a command with ``--json -`` and parse its stdout; fail loudly with its stderr."""
    proc = call_cli(*args, "--json", "-", home=home, env=env)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}"
    return json.loads(proc.stdout)


def assert_clean_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """A bad-input failure: exit 2, one 'error:' line on stderr naming the problem, no traceback."""
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    message = " ".join(proc.stderr.split())  # rich may wrap long lines
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def call_cli(
    *args: str, home: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI's real entry point (``autointerp.cli.main.main``) in this process: same code, no start-up cost."""
    import contextlib
    import io

    from autointerp.cli.main import main

    overrides = {**(env or {}), **({"AUTOINTERP_HOME": str(home)} if home is not None else {})}
    saved = {key: os.environ.get(key) for key in overrides}
    out, err = io.StringIO(), io.StringIO()
    os.environ.update(overrides)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return subprocess.CompletedProcess(["autointerp", *args], code, out.getvalue(), err.getvalue())
