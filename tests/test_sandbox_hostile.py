"""Hostile suite functions against the sandbox (tools.functions.sandbox), each contained, with its message.

The in-process audit hook is no boundary: the first cases switch it off the known ways (rewriting its
closure, a ``gc`` walk that swaps a function's code) and prove it is off (a file outside its roots then
opens), then read ``/etc/shadow``, ``/etc/passwd``, the project's files, the service's SQLite store and
the service's ``/proc`` through ``open``, ``os.open``, ``_io.FileIO`` and libc through ``ctypes``. Other
tampering (``sys.modules``, ``builtins``) leaves the hook on, and its own message answers. With the hook
off, the kernel answers: the file does not exist in the sandbox's mount namespace, and so on. Then the
network, new processes, writes, memory, time and the kernel's own interfaces, always with the hook off.

Each case asserts the exact text the user (an agent) sees: the per-input ``CallOutcome.error`` or the
batch's ``SandboxResult.error``; and that a sentinel secret never comes back in any output.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from store.errors import ConfigError
from store.settings import Settings
from tools.catalog import default_registry
from tools.context import ToolContext
from tools.executor import LocalExecutor, ToolCall
from tools.functions import sandbox
from tools.functions.sandbox import CallOutcome, SandboxLimits, SandboxResult, run_function

PROJECT_FILE = Path(__file__).resolve().parents[1] / "pyproject.toml"
SENTINEL = "autointerp-hostile-sentinel-4c1e"
CONTROL = "/etc/ld.so.cache"  # exists inside the sandbox, outside the hook's roots: opens only when the hook is off
OPT_IN = (
    "or set AUTOINTERP_SANDBOX=unsafe-hook to run it fenced only by an in-process audit hook, "
    "which hostile code can switch off"
)

# --- the bypasses -----------------------------------------------------------------------------------------

#: Bypasses that switch the audit hook off (run when the source is defined).
HOOK_OFF = {
    # Rewrite the hook's closure: its ``deny`` cell now holds a function that lets everything through.
    "closure-rewrite": """
import gc as _gc, types as _types
def _bypass():
    for obj in _gc.get_objects():
        if isinstance(obj, _types.FunctionType) and obj.__name__ == "hook" and obj.__closure__:
            for name, cell in zip(obj.__code__.co_freevars, obj.__closure__):
                if name == "deny":
                    cell.cell_contents = lambda *args, **kwargs: None
                    return
    raise RuntimeError("the hook was not found")
_bypass()
""",
    # Walk the gc heap to the hook's ``deny``, confirm through gc.get_referrers that closures hold it, and
    # swap its code for a no-op with the same free variables.
    "gc-code-swap": """
import gc as _gc, types as _types
def _noop_code(fn):
    names = fn.__code__.co_freevars
    src = "def outer():\\n" + "".join("    %s = None\\n" % n for n in names)
    src += "    def deny(what, why=''):\\n" + "".join("        %s\\n" % n for n in names)
    src += "        return None\\n    return deny\\n"
    space = {}
    exec(src, space)
    return space["outer"]().__code__
def _bypass():
    found = [o for o in _gc.get_objects() if isinstance(o, _types.FunctionType) and o.__name__ == "deny"]
    cells = [r for d in found for r in _gc.get_referrers(d) if type(r).__name__ == "cell"]
    if not cells:
        raise RuntimeError("deny was not found")
    for d in found:
        d.__code__ = _noop_code(d)
_bypass()
""",
}

#: Tampering that a hook holding its own references shrugs off: it stays on.
HOOK_ON = {
    # Replace os, os.path, io and posixpath's realpath in sys.modules, as a hook that looked them up
    # at call time would then resolve every path to a harmless one.
    "sys-modules": """
import sys as _sys, types as _types
_fake_os = _types.ModuleType("os")
_fake_os.__dict__.update(_sys.modules["os"].__dict__)
_fake_os.path = _types.SimpleNamespace(realpath=lambda p, **k: "/sandbox/harmless", join=lambda *p: "/".join(p))
_sys.modules["os"] = _fake_os
_sys.modules["os.path"] = _fake_os.path
_sys.modules["posixpath"].realpath = _fake_os.path.realpath
_sys.modules["io"] = _types.ModuleType("io")
""",
    # Swap builtins: the exception the hook raises becomes a non-exception, __import__ a wrapper, and the
    # module's __builtins__ a doctored copy.
    "builtins-swap": """
import builtins as _builtins
_real_import = _builtins.__import__
_builtins.PermissionError = type("PermissionError", (), {})
_builtins.__import__ = lambda name, *args, **kwargs: _real_import(name, *args, **kwargs)
__builtins__ = dict(vars(_builtins), PermissionError=None)
""",
}

#: Prelude of every reader: real modules bound before any tampering.
PRELUDE = "import _io, ctypes as _ctypes, os as _os, posix as _posix\n"

#: Ways to read a file: each is ``f(path)`` returning the first 200 bytes as text.
READERS = {
    "open": """
def f(path):
    with open(path, "rb") as fh:
        return fh.read(200).decode("latin-1")
""",
    "os.open": """
def f(path):
    fd = _posix.open(path, _posix.O_RDONLY)
    return _posix.read(fd, 200).decode("latin-1")
""",
    "_io.FileIO": """
def f(path):
    return _io.FileIO(path, "r").read(200).decode("latin-1")
""",
    # libc's open and read through ctypes: no Python-level open event left to hook.
    "ctypes-libc": """
def f(path):
    libc = _ctypes.CDLL(None, use_errno=True)
    fd = libc.open(path.encode(), 0)
    if fd < 0:
        err = _ctypes.get_errno()
        raise OSError(err, _os.strerror(err), path)
    buf = _ctypes.create_string_buffer(200)
    n = libc.read(fd, buf, 200)
    return buf.raw[: max(n, 0)].decode("latin-1")
""",
}

QUICK = SandboxLimits(timeout_s=5.0)
EPERM = "PermissionError: [Errno 1] Operation not permitted"


# --- fixtures and helpers ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def default_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default mode (bwrap, found on PATH), with a secret in the service's environment."""
    monkeypatch.delenv("AUTOINTERP_SANDBOX", raising=False)
    monkeypatch.delenv("AUTOINTERP_SANDBOX_BWRAP", raising=False)
    monkeypatch.setenv("AUTOINTERP_HOSTILE_SENTINEL", SENTINEL)


@pytest.fixture
def store_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The service's SQLite store in a temporary AUTOINTERP_HOME, with a secret row."""
    monkeypatch.setenv("AUTOINTERP_HOME", str(tmp_path / "home"))
    path = Path(Settings().db_url().removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    with db:
        db.execute("create table secrets (value text)")
        db.execute("insert into secrets values (?)", (SENTINEL,))
    db.close()
    assert SENTINEL.encode() in path.read_bytes()
    return path


def _no_secret(result: SandboxResult) -> None:
    text = result.model_dump_json()
    assert SENTINEL not in text and "[project]" not in text and "root:" not in text


def _errors(result: SandboxResult) -> dict[Any, str | None]:
    assert result.error is None, result.error
    return {o.input: o.error for o in result.outcomes}


def _hook_off(code: str, inputs: list[Any], limits: SandboxLimits = QUICK) -> SandboxResult:
    """Run ``code`` after the closure rewrite has switched the audit hook off."""
    result = run_function(HOOK_OFF["closure-rewrite"] + code, inputs, limits=limits)
    _no_secret(result)
    return result


def _isolation() -> list[str]:
    return run_function("def f(x):\n    return x\n", [0]).isolation


def _enoent(path: str) -> str:
    return f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'"


def _sandboxed_pythons() -> list[int]:
    """Live processes running the sandbox's child program (its source is their last argument)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if cmdline and cmdline[-1] == sandbox._RUNNER:
            found.append(proc.pid)
    return found


# --- reading secrets after each bypass --------------------------------------------------------------------


def test_the_sandbox_is_built_by_the_operating_system() -> None:
    layers = _isolation()
    assert layers[:2] == ["bwrap", "userns" if os.geteuid() != 0 else "mntns"]
    assert {"mntns", "pidns", "netns", "ipcns", "utsns", "caps:none", "no_new_privs", "audit_hook"} <= set(layers)
    assert {"RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_NPROC"} <= set(layers)
    assert "uid:nobody" in layers
    pytest.importorskip("pyseccomp")
    assert "seccomp" in layers  # libseccomp works on this machine: the filter is loaded


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("bypass", list(HOOK_OFF))
def test_secrets_stay_out_of_reach_with_the_hook_off(bypass: str, reader: str, store_file: Path) -> None:
    proc_of_service = f"/proc/{os.getpid()}/environ"
    targets = ["/etc/shadow", "/etc/passwd", str(PROJECT_FILE), str(store_file), proc_of_service]
    # pid 1 is bwrap's init in the sandbox's own pid namespace: root-owned when the service is root,
    # else the same uid, with the empty environment it was started with. Its root is the sandbox's own
    # (asked through libc only: Python's readers first resolve the path in the hook, which the bypass broke).
    init = ["/proc/1/environ"] + (["/proc/1/root/etc/shadow"] if reader == "ctypes-libc" else [])
    code = PRELUDE + HOOK_OFF[bypass] + READERS[reader]
    result = run_function(code, [*targets, *init, CONTROL], limits=QUICK)
    _no_secret(result)
    outcomes = {o.input: o for o in result.outcomes}
    control = outcomes[CONTROL]
    assert control.error is None and control.output, "the bypass did not switch the hook off"
    for path in targets:
        assert (outcomes[path].output, outcomes[path].error) == (None, _enoent(path)), (bypass, reader, path)
    for path in init:
        outcome = outcomes[path]
        if os.geteuid() == 0:
            assert outcome.error == f"PermissionError: [Errno 13] Permission denied: '{path}'", (reader, outcome)
        else:
            assert outcome.error == _enoent(path) or outcome.output == "", (reader, outcome)


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("bypass", list(HOOK_ON))
def test_tampering_that_leaves_the_hook_on_meets_its_message(bypass: str, reader: str, store_file: Path) -> None:
    targets = ["/etc/shadow", str(PROJECT_FILE), str(store_file), f"/proc/{os.getpid()}/environ", CONTROL]
    result = run_function(PRELUDE + HOOK_ON[bypass] + READERS[reader], targets, limits=QUICK)
    _no_secret(result)
    for path, error in _errors(result).items():
        if reader == "ctypes-libc":
            assert error == "PermissionError: sandbox: ctypes.dlopen is not allowed", (bypass, path)
        else:
            assert error == f"PermissionError: sandbox: opening {path} is not allowed", (bypass, reader, path)


def test_only_the_interpreter_is_in_the_sandbox() -> None:
    code = "import os\ndef f(path):\n    return sorted(os.listdir(path))\n"
    listed = {o.input: o.output for o in _hook_off(code, ["/", "/etc", "/dev", "/sandbox"]).outcomes}
    allowed = {"dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "root", "sandbox", "site", "usr"}
    assert set(listed["/"]) <= allowed
    assert not {"home", "tmp", "work", "var", "run", "opt", "mnt", "srv", "boot"} & set(listed["/"])
    assert listed["/etc"] == ["ld.so.cache"]
    devices = {"core", "fd", "full", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty"}
    assert set(listed["/dev"]) <= devices | {"urandom", "zero"}
    assert listed["/sandbox"] == []
    env = _hook_off("import os\ndef f(x):\n    return dict(os.environ)\n", [0]).outcomes[0].output
    assert set(env) <= {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PWD", "LC_CTYPE"}


def test_the_service_processes_are_invisible() -> None:
    me = os.getpid()
    code = "import os\ndef f(x):\n    if x == 'kill':\n"
    code += f"        os.kill({me}, 0)\n    return sorted(p for p in os.listdir('/proc') if p.isdigit())\n"
    result = _hook_off(code, ["list", "kill"])
    assert len(result.outcomes[0].output) <= 3 and str(me) not in result.outcomes[0].output
    assert result.outcomes[1].error == "ProcessLookupError: [Errno 3] No such process"


# --- network ----------------------------------------------------------------------------------------------


def test_no_network_at_all() -> None:
    layers = _isolation()
    assert "netns" in layers  # nothing below can leave the machine: the namespace has only a loopback
    code = """
import socket
def f(x):
    family, address = x
    s = socket.socket(getattr(socket, family), socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(tuple(address) if family != "AF_UNIX" else address)
    return "connected"
"""
    unix = [["AF_UNIX", "/run/postgresql/.s.PGSQL.5432"], ["AF_UNIX", "/var/run/redis/redis.sock"]]
    inet = [["AF_INET", ["127.0.0.1", 6379]], ["AF_INET", ["127.0.0.1", 5432]], ["AF_INET6", ["::1", 6379]]]
    if "seccomp" in layers:
        inet.append(["AF_INET", ["192.0.2.1", 80]])  # TEST-NET-1: the socket is refused before any packet
    outcomes = _hook_off(code, unix + inet).outcomes
    assert len(outcomes) == len(unix + inet)
    for outcome in outcomes:
        family = outcome.input[0]
        assert outcome.output is None
        if family == "AF_UNIX":
            assert outcome.error == "FileNotFoundError: [Errno 2] No such file or directory"
        elif "seccomp" in layers:
            assert outcome.error == EPERM
        else:
            assert outcome.error is not None and outcome.error.split(":")[0] in ("ConnectionRefusedError", "OSError")


# --- processes --------------------------------------------------------------------------------------------


def test_no_new_processes_threads_or_programs() -> None:
    seccomp = "seccomp" in _isolation()
    code = """
import os, subprocess, sys, threading
def f(x):
    if x == "fork":
        return os.fork()
    if x == "thread":
        threading.Thread(target=print).start()
        return "started"
    if x == "subprocess":
        return subprocess.run([sys.executable, "-c", "pass"]).returncode
    if x == "exec":
        os.execv(sys.executable, [sys.executable, "-c", "pass"])
"""
    errors = _errors(_hook_off(code, ["fork", "thread", "subprocess", "exec"]))
    assert errors["thread"] == "RuntimeError: can't start new thread"  # RLIMIT_NPROC
    if seccomp:
        assert errors["fork"] == errors["subprocess"] == errors["exec"] == EPERM
    else:
        assert errors["fork"] == "BlockingIOError: [Errno 11] Resource temporarily unavailable"


def test_the_kernel_interfaces_for_escapes_are_closed() -> None:
    if "seccomp" not in _isolation():
        pytest.skip("no seccomp filter here (pyseccomp or libseccomp missing); the namespaces remain")
    if os.uname().machine != "x86_64":
        pytest.skip("the raw system call numbers here are x86_64's")
    code = """
import ctypes
def f(x):
    libc = ctypes.CDLL(None, use_errno=True)
    calls = {
        "unshare-user": lambda: libc.unshare(0x10000000),
        "mount": lambda: libc.mount(b"none", b"/sandbox", b"tmpfs", 0, None),
        "ptrace-init": lambda: libc.ptrace(16, 1, None, None),
        "keyctl": lambda: libc.syscall(250, 0, -4, 0, 0, 0),
        "bpf": lambda: libc.syscall(321, 0, None, 0),
        "perf_event_open": lambda: libc.syscall(298, None, 0, -1, -1, 0),
        "setns": lambda: libc.setns(0, 0),
        "pivot_root": lambda: libc.syscall(155, b"/", b"/"),
        "init_module": lambda: libc.syscall(175, None, 0, b""),
        "kexec_load": lambda: libc.syscall(246, 0, 0, None, 0),
    }
    ctypes.set_errno(0)
    ret = calls[x]()
    return [ret, ctypes.get_errno()]
"""
    names = ["unshare-user", "mount", "ptrace-init", "keyctl", "bpf", "perf_event_open", "setns", "pivot_root"]
    names += ["init_module", "kexec_load"]
    for outcome in _hook_off(code, names).outcomes:
        assert outcome.output == [-1, 1], outcome  # -1, EPERM from the filter


def test_a_system_call_through_another_abi_kills_the_process() -> None:
    """The x32 ABI (syscall number | 0x40000000) would slip past a filter written for x86_64 names."""
    if "seccomp" not in _isolation() or os.uname().machine != "x86_64":
        pytest.skip("needs the seccomp filter on x86_64")
    code = "import ctypes\ndef f(x):\n    return ctypes.CDLL(None).syscall(x)\n"
    result = _hook_off(code, [39, 0x40000000 | 39])  # getpid, then getpid through x32
    assert [o.error for o in result.outcomes] == [None]
    assert result.error == "the sandboxed process was killed by SIGSYS while running input 1 (1073741863)"


# --- writes, memory, time ---------------------------------------------------------------------------------


def test_nothing_outside_the_working_directory_can_be_written(tmp_path: Path) -> None:
    escaped = tmp_path / "escaped.txt"
    before = PROJECT_FILE.read_bytes()
    code = "def f(path):\n    with open(path, 'w') as fh:\n        fh.write('x')\n    return 'written'\n"
    paths = [str(escaped), str(PROJECT_FILE), "/usr/lib/escaped", "/etc/escaped", "/escaped", "/sandbox/own.txt"]
    errors = _errors(_hook_off(code, paths))
    assert errors[str(escaped)] == _enoent(str(escaped))
    assert errors[str(PROJECT_FILE)] == _enoent(str(PROJECT_FILE))
    for path in ("/usr/lib/escaped", "/etc/escaped", "/escaped"):
        assert errors[path] == f"OSError: [Errno 30] Read-only file system: '{path}'"
    assert errors["/sandbox/own.txt"] == "OSError: [Errno 27] File too large"  # RLIMIT_FSIZE = 0 by default
    assert not escaped.exists() and PROJECT_FILE.read_bytes() == before


def test_memory_is_capped_even_after_trying_to_lift_the_limit() -> None:
    code = """
import resource
def f(x):
    try:
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except ValueError as exc:
        print("setrlimit:", exc)
    return len(bytearray(2 * 1024**3))
"""
    outcome = _hook_off(code, [0], limits=SandboxLimits(memory_mb=256, timeout_s=10)).outcomes[0]
    assert outcome.error == "MemoryError: out of memory (the sandbox's memory cap is 256 MB)"
    assert outcome.stdout == "setrlimit: not allowed to raise maximum limit\n"


def test_time_is_capped_and_nothing_is_left_running() -> None:
    code = "import signal\ndef f(x):\n    signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
    code += "    while True:\n        pass\n"
    started = time.perf_counter()
    result = _hook_off(code, [0], limits=SandboxLimits(timeout_s=1.0))
    assert time.perf_counter() - started < 3.0
    assert result.outcomes == [] and result.error == "timed out after 1.0 s while running input 0 (0)"
    deadline = time.monotonic() + 3.0
    while _sandboxed_pythons() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sandboxed_pythons() == []


# --- through the agent's tool -----------------------------------------------------------------------------


def test_call_function_reports_the_contained_attempt_to_the_agent(tmp_path: Path) -> None:
    code = PRELUDE + HOOK_OFF["closure-rewrite"] + READERS["open"]
    suite = tmp_path / "suite.jsonl"
    row = {"id": "thief", "kind": "string", "code": code, "description": "reads secrets"}
    suite.write_text(json.dumps(row) + "\n")
    ex = LocalExecutor(default_registry(), ToolContext(Settings(home=tmp_path / "home")))
    out = ex.run(ToolCall(tool="call_function", args={"subject": f"{suite}#thief", "inputs": ["/etc/shadow"]}))
    assert out.ok and out.result is not None, out.error
    outcome = CallOutcome.model_validate(out.result["outcomes"][0])
    assert outcome.output is None and outcome.error == _enoent("/etc/shadow")


def test_call_function_refuses_without_bubblewrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-bwrap"
    monkeypatch.setenv("AUTOINTERP_SANDBOX_BWRAP", str(missing))
    suite = tmp_path / "suite.jsonl"
    row = {"id": "id", "kind": "numeric", "code": "def f(x): return x", "description": "x"}
    suite.write_text(json.dumps(row) + "\n")
    ex = LocalExecutor(default_registry(), ToolContext(Settings(home=tmp_path / "home")))
    out = ex.run(ToolCall(tool="call_function", args={"subject": f"{suite}#id", "inputs": [1.0]}))
    assert not out.ok
    assert out.error == (
        f"cannot run untrusted function code: AUTOINTERP_SANDBOX_BWRAP={missing} is not an executable file; "
        f"install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) {OPT_IN}"
    )


# --- refusal and the operator's opt-in --------------------------------------------------------------------


def test_no_bwrap_on_the_path_is_a_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        run_function("def f(x):\n    return x\n", [1])
    assert str(info.value) == (
        "cannot run untrusted function code: bubblewrap (bwrap) is not installed; "
        f"install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) {OPT_IN}"
    )


def test_a_machine_without_namespaces_is_a_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bwrap"
    message = "bwrap: No permissions to create a new namespace, likely because the kernel does not allow it."
    fake.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("AUTOINTERP_SANDBOX_BWRAP", str(fake))
    with pytest.raises(ConfigError) as info:
        run_function("def f(x):\n    return x\n", [1])
    text = str(info.value)
    assert text.startswith(f"cannot run untrusted function code: bubblewrap could not build the sandbox ({message})")
    assert text.endswith(OPT_IN) and "\n" not in text


def test_a_bad_mode_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOINTERP_SANDBOX", "chroot")
    with pytest.raises(ConfigError, match="AUTOINTERP_SANDBOX is invalid: Input should be 'bwrap' or 'unsafe-hook'"):
        run_function("def f(x):\n    return x\n", [1])


def test_the_opt_in_runs_with_the_hook_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOINTERP_SANDBOX", "unsafe-hook")
    monkeypatch.setenv("AUTOINTERP_SANDBOX_BWRAP", str(tmp_path / "no-bwrap"))  # not needed, not used
    result = run_function(f"def f(x):\n    return open({str(PROJECT_FILE)!r}).read()\n", [1])
    assert result.isolation[0] == "unsafe-hook" and "audit_hook" in result.isolation
    assert not {"bwrap", "mntns", "pidns", "caps:none"} & set(result.isolation)
    error = f"PermissionError: sandbox: opening {PROJECT_FILE} is not allowed"
    assert result.outcomes[0].output is None and result.outcomes[0].error == error


def test_the_opt_in_is_not_a_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why ``unsafe-hook`` is opt-in: with the hook switched off, the project's files are readable."""
    monkeypatch.setenv("AUTOINTERP_SANDBOX", "unsafe-hook")
    code = PRELUDE + HOOK_OFF["closure-rewrite"] + READERS["open"]
    result = run_function(code, [str(PROJECT_FILE)])
    assert result.outcomes[0].error is None and "[build-system]" in result.outcomes[0].output
