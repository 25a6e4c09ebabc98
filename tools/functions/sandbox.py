"""Run untrusted suite-function source (DESIGN §3) on a batch of inputs in a separate, fenced process.

``run_function(code, inputs)`` starts a fresh child interpreter per call (``python -I -S -B``, so no
site-packages, no project, no ``PYTHON*`` variables; about 20 ms on a quiet machine), sends it the source
and the inputs, and reads back one result line per input as each finishes. A hang, a memory blow-up or a crash therefore
ends only that call: the parent kills the child's whole process group and reports what finished.

What the child does before the user's code runs, most important first (``SandboxResult.isolation`` lists
what took effect on this machine):

* **resource limits** (always): ``RLIMIT_AS`` = the memory cap, ``RLIMIT_CPU`` = timeout + 1 s,
  ``RLIMIT_NOFILE`` = 32, ``RLIMIT_FSIZE`` = ``max_file_bytes`` (0: no file can be written to; writing
  raises ``OSError`` instead of killing the process), ``RLIMIT_CORE`` = 0, ``RLIMIT_NPROC`` = 0 (no
  fork, no threads). ``RLIMIT_NPROC`` counts per *user* and never binds uid 0, so it only works together
  with the uid drop below, or when the service does not run as root.
* **a private, empty network namespace** (``unshare(CLONE_NEWNET)`` via ctypes; as root, or through
  ``CLONE_NEWUSER`` where unprivileged user namespaces are allowed): no interface but a downed
  loopback, so nothing (not Redis on 127.0.0.1, not the internet) can be reached, whatever the code does.
* **uid drop** (when running as root): the child becomes ``nobody``, owns only its fresh temporary
  working directory, and cannot signal, ptrace or write the service's files. Where the interpreter's
  standard library is not world-readable (e.g. under ``/root``), the child keeps only
  ``CAP_DAC_READ_SEARCH`` so it can still import it: it can then read, but not write, any file.
  ``PR_SET_NO_NEW_PRIVS`` and ``PR_SET_PDEATHSIG(SIGKILL)`` are set too.
* **an audit hook** (``sys.addaudithook``; user code cannot remove it) that raises ``PermissionError``
  for: opening or listing paths outside the working directory, the standard library and the
  importable packages; writing or changing anything outside the working directory; every
  ``socket.*`` and ``ctypes.*`` event; ``subprocess.Popen``, ``os.system``, ``os.exec*``,
  ``os.spawn*``, ``os.posix_spawn``, ``os.fork``, ``os.kill``, ``os.symlink``, ``os.link``;
  ``resource.setrlimit``; importing ``_posixsubprocess``. It is the only network fence where namespaces
  are not permitted, and the only read fence for world-readable files (or for any file, under
  ``CAP_DAC_READ_SEARCH``); it is **best effort**: CPython cannot be sandboxed from inside, and a
  determined attacker may find C-level routes the hook does not see. The kernel-level layers hold.

The child's environment is empty except ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/``MKL_NUM_THREADS``
= 1. Standard-library imports work (``math``, ``random``, ``re``, ``itertools``, ...), and so does
``numpy`` when the service's interpreter has it (``IMPORTABLE_PACKAGES``); nothing else from
site-packages can be imported.

Errors: a source that does not compile, raises while being defined, or defines no entry function, and
inputs that are not JSON-able raise ``InputError``; a timeout, the memory cap, or a crash of the child
come back as ``SandboxResult.error`` with the outcomes of the inputs that finished before it. An
exception inside ``f`` is reported for that input only (``CallOutcome.error``).

Values cross the process boundary as JSON text with Python's ``NaN``/``Infinity``/``-Infinity`` tokens,
so non-finite floats survive the round trip; tuples come back as lists, numpy scalars and arrays as
Python numbers and lists.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib.util
import json
import marshal
import math
import os
import pwd
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from store.errors import ConfigError, InputError

__all__ = [
    "IMPORTABLE_PACKAGES",
    "CallOutcome",
    "SandboxLimits",
    "SandboxResult",
    "run_function",
]

IMPORTABLE_PACKAGES: tuple[str, ...] = ("numpy",)
"""Third-party packages the sandboxed code may import (when the service's interpreter has them)."""

_MAX_CODE_CHARS = 1_000_000
_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
_MAX_INPUT_DEPTH = 64
_STDERR_KEEP = 16 * 1024
_CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: Source of the child program; see tools/functions/sandbox_child.py for what it does and its protocol.
_RUNNER = (Path(__file__).with_name("sandbox_child.py")).read_text(encoding="utf-8")


class SandboxLimits(BaseModel):
    """Limits of one ``run_function`` call; the defaults suit FIND-style functions."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float = Field(
        10.0, gt=0, le=3600, description="Wall-clock limit for the whole batch, start-up included."
    )
    memory_mb: int = Field(512, ge=64, le=1_048_576, description="Address-space cap of the child process (RLIMIT_AS).")
    max_inputs: int = Field(10_000, ge=1, description="Most inputs one call accepts.")
    max_output_chars: int = Field(10_000, ge=1, description="Largest output, as JSON text, kept per input.")
    max_stdout_chars: int = Field(2_000, ge=0, description="Printed text kept per input; the rest is counted.")
    max_file_bytes: int = Field(0, ge=0, description="RLIMIT_FSIZE: largest file the code may write (0: none).")


class CallOutcome(BaseModel):
    """What happened to one input: its output, or the exception it raised, and what it printed.

    ``output`` is a JSON-able value (NaN and ±inf included; JSON dumps of this model write them as the
    ``NaN``/``Infinity`` tokens Python and pydantic read back). ``error`` is one line,
    ``"ZeroDivisionError: division by zero"``; outputs that cannot be sent back (not JSON-able, over
    ``max_output_chars``) give ``"OutputError: ..."``.
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    input: Any
    output: Any = None
    error: str | None = None
    stdout: str = Field("", description="Text printed to stdout or stderr while this input ran (truncated).")


class SandboxResult(BaseModel):
    """The outcome of a batch: ``outcomes[k]`` belongs to ``inputs[k]``.

    ``error`` is set when the batch was cut short (``"timed out after 5.0 s while running input 7 (…)"``,
    ``"exceeded the memory cap of 512 MB while running input 3 (…)"``, a crash); ``outcomes`` then holds
    only the inputs that finished before it, in order.
    """

    model_config = ConfigDict(ser_json_inf_nan="constants")

    outcomes: list[CallOutcome]
    error: str | None = None
    seconds: float
    isolation: list[str] = Field(
        default_factory=list,
        description="The isolation layers that took effect in the child (see tools.functions.sandbox).",
    )


def run_function(
    code: str, inputs: list[Any], *, limits: SandboxLimits = SandboxLimits(), entry: str = "f"
) -> SandboxResult:
    """Call ``entry`` (default ``f``) defined by ``code`` on each of ``inputs``, in a fresh sandboxed process.

    Inputs are run one after another in one child process, so module-level state and ``random`` carry over
    between them within a call, never between calls. Raises ``InputError`` for a source that does not
    compile, raises while being defined or lacks ``entry``, and for inputs that are not JSON-able or too
    many; resource failures come back in ``SandboxResult.error``.
    """
    started = time.perf_counter()
    request = _request(code, inputs, limits, entry)
    tmp = tempfile.mkdtemp(prefix="autointerp-sandbox-")
    try:
        request["tmp"] = os.path.realpath(tmp)
        data = marshal.dumps(request)
        if len(data) > _MAX_PAYLOAD_BYTES:
            raise InputError(f"inputs and source are {len(data)} bytes; the limit is {_MAX_PAYLOAD_BYTES}")
        run = _Run(list(inputs), limits)
        run.execute(data, tmp, started)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if run.fatal is not None:
        raise InputError(run.fatal)
    return SandboxResult(
        outcomes=run.outcomes, error=run.error, seconds=time.perf_counter() - started, isolation=run.isolation
    )


def _python() -> str:
    """The interpreter the child runs (the service's own; a seam for tests)."""
    if not sys.executable:
        raise ConfigError("cannot run the sandbox: sys.executable is empty, so there is no Python to start")
    return sys.executable


def _request(code: Any, inputs: Any, limits: SandboxLimits, entry: Any) -> dict[str, Any]:
    """Validate the request and build what the child reads (marshalled: the child is the same Python)."""
    if not isinstance(code, str):
        raise InputError(f"function source must be a string, got {type(code).__name__}")
    if not code.strip():
        raise InputError("function source is empty")
    if len(code) > _MAX_CODE_CHARS:
        raise InputError(f"function source is {len(code)} characters; the limit is {_MAX_CODE_CHARS}")
    if not isinstance(entry, str) or not entry.isidentifier():
        raise InputError(f"entry must be a Python identifier, got {entry!r}")
    if not isinstance(inputs, (list, tuple)):
        raise InputError(f"inputs must be a list, got {type(inputs).__name__}")
    if len(inputs) > limits.max_inputs:
        raise InputError(f"{len(inputs)} inputs is more than the limit of {limits.max_inputs} per call")
    plain = []
    for k, value in enumerate(inputs):
        problem = _json_problem(value, 0)
        if problem is not None:
            raise InputError(
                f"input {k} is not JSON-able: {problem} (inputs must be numbers, strings, booleans, None, "
                "or lists and str-keyed dicts of them)"
            )
        plain.append(_plain(value))
    python = _python()
    packages = _packages() if os.path.realpath(python) == os.path.realpath(sys.executable) else {}
    pkg_dirs = sorted({d for dirs in packages.values() for d in dirs[1:]})
    request = {
        "code": code,
        "entry": entry,
        "inputs": plain,
        "memory_mb": limits.memory_mb,
        "cpu_s": math.ceil(limits.timeout_s) + 1,
        "file_bytes": limits.max_file_bytes,
        "output_chars": limits.max_output_chars,
        "stdout_chars": limits.max_stdout_chars,
        "packages": {name: dirs[0] for name, dirs in packages.items()},
        "pkg_dirs": pkg_dirs,
        "site_dirs": sorted({dirs[0] for dirs in packages.values()}),
        "nobody": _nobody(),
        "ppid": os.getpid(),
        "tmp": "",
    }
    return request


def _json_problem(value: Any, depth: int) -> str | None:
    """Why ``value`` is not JSON-able (None when it is)."""
    if depth > _MAX_INPUT_DEPTH:
        return f"nested more than {_MAX_INPUT_DEPTH} levels deep"
    if value is None or isinstance(value, (bool, int, float, str)):
        return None
    if isinstance(value, (list, tuple)):
        for item in value:
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"a dict with a {type(key).__name__} key"
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"a value of type {type(value).__name__}"


def _plain(value: Any) -> Any:
    """``value`` with subclasses of the JSON types turned into the base types (marshal wants exact types)."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return {str.__str__(k): _plain(v) for k, v in value.items()}


@functools.lru_cache(maxsize=1)
def _packages() -> dict[str, list[str]]:
    """``{name: [site_dir, package_dir, extra_dirs...]}`` for the importable packages this Python has."""
    found: dict[str, list[str]] = {}
    for name in IMPORTABLE_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.submodule_search_locations:
            continue
        package_dir = os.path.realpath(next(iter(spec.submodule_search_locations)))
        site_dir = os.path.dirname(package_dir)
        dirs = [site_dir, package_dir]
        libs = os.path.join(site_dir, f"{name}.libs")  # vendored shared libraries of manylinux wheels
        if os.path.isdir(libs):
            dirs.append(libs)
        found[name] = dirs
    return found


@functools.lru_cache(maxsize=1)
def _nobody() -> tuple[int, int] | None:
    """(uid, gid) to drop to when the service runs as root, else None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


@dataclass
class _Run:
    """One child process: feeds it the request, collects its result lines, classifies how it ended."""

    inputs: list[Any]
    limits: SandboxLimits
    outcomes: list[CallOutcome] = field(default_factory=list)
    isolation: list[str] = field(default_factory=list)
    error: str | None = None
    fatal: str | None = None
    phase: str = "starting"
    done: bool = False
    stderr: bytearray = field(default_factory=bytearray)

    def execute(self, data: bytes, tmp: str, started: float) -> None:
        """Run the child to completion, a timeout, or a protocol violation; always reap it."""
        deadline = started + self.limits.timeout_s
        try:
            proc = subprocess.Popen(
                [_python(), "-I", "-S", "-B", "-X", "utf8", "-c", _RUNNER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=tmp,
                env=_CHILD_ENV,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ConfigError(f"cannot start the sandbox process: {exc}") from None
        try:
            timed_out = self._pump(proc, data, deadline)
            if timed_out:
                self.error = f"timed out after {float(self.limits.timeout_s)} s {self._where()}"
            elif not self.done and self.fatal is None and self.error is None:
                self._classify_exit(proc, deadline)
        finally:
            _kill_group(proc)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            proc.wait()

    def _pump(self, proc: subprocess.Popen[bytes], data: bytes, deadline: float) -> bool:
        """Move bytes until the child finishes its protocol or closes its output; True on timeout."""
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        out_fd, err_fd, in_fd = proc.stdout.fileno(), proc.stderr.fileno(), proc.stdin.fileno()
        for fd in (out_fd, err_fd, in_fd):
            os.set_blocking(fd, False)
        pending = memoryview(data)
        line_cap = 2 * (self.limits.max_output_chars + 6 * self.limits.max_stdout_chars) + 65_536
        buffer = bytearray()
        with selectors.DefaultSelector() as sel:
            sel.register(out_fd, selectors.EVENT_READ)
            sel.register(err_fd, selectors.EVENT_READ)
            sel.register(in_fd, selectors.EVENT_WRITE)
            open_reads = 2
            while open_reads and not self.done:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return True
                for key, _ in sel.select(remaining):
                    fd = key.fd
                    if fd == in_fd:
                        try:
                            pending = pending[os.write(fd, pending[:65_536]) :]
                        except BlockingIOError:
                            continue
                        except OSError:  # the child is gone; its exit status will say why
                            pending = pending[:0]
                        if not pending:
                            sel.unregister(fd)
                            proc.stdin.close()
                        continue
                    try:
                        chunk = os.read(fd, 65_536)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        sel.unregister(fd)
                        open_reads -= 1
                        continue
                    if fd == err_fd:
                        self.stderr += chunk
                        del self.stderr[:-_STDERR_KEEP]
                        continue
                    buffer += chunk
                    while not self.done:
                        end = buffer.find(b"\n")
                        if end < 0:
                            break
                        line = bytes(buffer[:end])
                        del buffer[: end + 1]
                        if not self._line(line):
                            return False
                    if len(buffer) > line_cap:
                        self._broken("wrote a result line longer than the limit")
                        return False
                    if self.fatal is not None or self.error is not None:
                        return False
        return False

    def _line(self, raw: bytes) -> bool:
        """Take one protocol line; False (with ``error`` set) when it breaks the protocol."""
        try:
            msg = json.loads(raw)
        except (ValueError, RecursionError):
            return self._broken("wrote a line that is not JSON")
        if not isinstance(msg, dict):
            return self._broken("wrote a line that is not a JSON object")
        if "i" in msg:
            k = len(self.outcomes)
            error, stdout = msg.get("e"), msg.get("s")
            if (
                self.phase != "running"
                or msg["i"] != k
                or k >= len(self.inputs)
                or not (error is None or isinstance(error, str))
                or not isinstance(stdout, str)
            ):
                return self._broken("wrote a result out of order")
            self.outcomes.append(CallOutcome(input=self.inputs[k], output=msg.get("o"), error=error, stdout=stdout))
        elif "started" in msg and self.phase == "starting":
            self.isolation = [str(s) for s in msg["started"]] if isinstance(msg["started"], list) else []
            self.phase = "defining"
        elif msg.get("ready") is True and self.phase == "defining":
            self.phase = "running"
        elif msg.get("done") is True and self.phase == "running":
            if len(self.outcomes) != len(self.inputs):
                return self._broken("ended before all inputs were run")
            self.done = True
        elif "fatal" in msg and self.phase == "defining":
            if msg["fatal"] == "memory":
                self.error = f"exceeded the memory cap of {self.limits.memory_mb} MB {self._where()}"
            else:
                self.fatal = str(msg.get("message") or "function source is unusable")
        else:
            return self._broken("wrote an unexpected line")
        return True

    def _broken(self, what: str) -> bool:
        """Record a protocol violation (the user code wrote to the result channel, or the child broke)."""
        self.error = f"the sandboxed process {what} {self._where()}"
        return False

    def _where(self) -> str:
        """Which phase the child was in, for error messages: '… while running input 7 (12.5)'."""
        if self.phase == "starting":
            return "while starting"
        if self.phase == "defining":
            return "while defining the function"
        k = len(self.outcomes)
        if k >= len(self.inputs):
            return "after running all inputs"
        shown = repr(self.inputs[k])
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return f"while running input {k} ({shown})"

    def _classify_exit(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        """The child closed its output without finishing: say why, from its exit status and stderr."""
        status = _exit_status(proc.pid, deadline)
        where = self._where()
        tail = self.stderr.decode("utf-8", "replace")
        if status is None:
            self.error = f"timed out after {float(self.limits.timeout_s)} s {where}"
            return
        kind, number = status
        lowered = tail.lower()
        out_of_memory = any(
            s in lowered for s in ("memoryerror", "cannot allocate memory", "out of memory", "memory allocation")
        )
        if out_of_memory or (kind == "exited" and number == 71):  # 71: the runner's own MemoryError exit
            self.error = f"exceeded the memory cap of {self.limits.memory_mb} MB {where}"
        elif kind == "killed" and number == signal.SIGXCPU:
            self.error = f"timed out after {float(self.limits.timeout_s)} s (the CPU-time limit) {where}"
        elif kind == "killed":
            self.error = f"the sandboxed process was killed by {_signal_name(number)} {where}"
        else:
            self.error = f"the sandboxed process exited with status {number} {where}"
        last = [ln for ln in tail.strip().splitlines() if ln.strip()]
        if last and "memory cap" not in self.error:
            self.error += f": {last[-1].strip()[:200]}"


def _exit_status(pid: int, deadline: float) -> tuple[str, int] | None:
    """How ``pid`` ended, without reaping it (so its process group id stays ours to kill); None on timeout."""
    while True:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return ("exited", -1)
        except OSError as exc:  # pragma: no cover - EINTR is retried by Python
            if exc.errno == errno.EINTR:
                continue
            return ("exited", -1)
        if info is not None and info.si_pid:
            if info.si_code == os.CLD_EXITED:
                return ("exited", info.si_status)
            return ("killed", info.si_status)
        if time.perf_counter() >= deadline:
            return None
        time.sleep(0.002)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group (the child is its leader and is not reaped yet, so the id is ours)."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def _signal_name(number: int) -> str:
    """``SIGSEGV`` for 11."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _main() -> None:  # pragma: no cover - manual smoke test: python -m tools.functions.sandbox
    result = run_function("def f(x):\n    return x * 2\n", [1, 2.5, "ab"])
    print(result.model_dump_json(indent=2))
    print("isolation:", ", ".join(result.isolation), "| seconds:", round(result.seconds, 4), file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    _main()
