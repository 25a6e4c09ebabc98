"""Run untrusted suite-function source (DESIGN §3) on a batch of inputs in a separate, fenced process.

``run_function(code, inputs)`` starts a fresh child interpreter per call (``python -I -S -B``, so no
site-packages, no project, no ``PYTHON*`` variables), sends it the source and the inputs, and reads back
one result line per input as each finishes. A hang, a memory blow-up or a crash therefore ends only that
call: the parent kills the child and reports what finished.

**The boundary is the operating system** (``AUTOINTERP_SANDBOX=bwrap``, the default). The child is
started through bubblewrap (``bwrap``, found on ``PATH`` or at ``AUTOINTERP_SANDBOX_BWRAP``):

* **its own mount namespace** whose root is an empty tmpfs, remounted read-only, holding only read-only
  binds of what the interpreter needs: the resolved executable, its standard library (with any
  ``site-packages``/``dist-packages`` inside it, and inside ``/usr/lib``, covered by empty read-only
  tmpfs mounts), ``libpython``, ``/usr/lib`` and ``/usr/lib64`` (``/lib``, ``/lib64`` as on the host),
  ``/etc/ld.so.cache``, and the packages of ``IMPORTABLE_PACKAGES`` (numpy with ``numpy.libs``) at
  ``/site``; plus a fresh tmpfs working directory ``/sandbox`` (the only writable place, capped at
  max(1 MiB, 4 × ``max_file_bytes``)), a new ``/proc`` of the child's own pid namespace (the service's
  processes are invisible; ``/proc/sys`` is not writable), and bwrap's minimal ``/dev`` (null, zero,
  full, random, urandom, tty, a private devpts). Nothing else exists inside: not ``/etc/passwd`` or
  ``/etc/shadow``, not the project, ``$AUTOINTERP_HOME`` and the store, ``/home``, ``/tmp``, nor anything
  of ``/root`` but the interpreter's own folders where it is installed there (pyenv).
* **new pid, network, IPC and UTS namespaces** (and cgroup, where the kernel has it): the network
  namespace holds only a loopback, so nothing (not Redis on 127.0.0.1, not the internet) can be
  reached; ``--die-with-parent``, ``--new-session``, and an environment cleared to
  ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` = 1 (bwrap adds ``PWD``).
* **no privileges**: when the service runs as root, bwrap keeps only ``CAP_SETUID``, ``CAP_SETGID``
  and ``CAP_SETPCAP`` for the child, which empties its capability bounding set and becomes
  ``nobody`` (uid/gid 65534, no groups) before it reads any user code, so the code runs with every
  capability set empty; otherwise bwrap runs unprivileged with a user namespace that maps uid/gid 65534
  to the service's user, ``--disable-userns``, ``--cap-drop ALL``. The child checks
  ``/proc/self/status`` and refuses to go on while any capability is left. ``PR_SET_NO_NEW_PRIVS`` is set.
* **a seccomp filter** (compiled once per service process with libseccomp through ``pyseccomp``, loaded
  by the child right before the user's code) that fails with ``EPERM``: ``ptrace``,
  ``process_vm_readv/writev``, ``pidfd_open``/``pidfd_getfd``; ``mount``, ``umount2``, ``pivot_root``,
  ``chroot`` and the new mount API; ``unshare``, ``setns``, ``clone`` with any namespace flag or
  without ``CLONE_THREAD`` (no new processes; ``clone3`` gets ``ENOSYS`` so libc falls back to
  ``clone``), ``fork``, ``vfork``, ``execve``, ``execveat``; ``keyctl``, ``add_key``, ``request_key``,
  ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring_*``; ``init_module``, ``finit_module``,
  ``delete_module``, ``kexec_load``, ``kexec_file_load``, and other system-wide switches; the file-handle
  calls; ``ioctl(TIOCSTI)``; ``socket`` for every family but ``AF_UNIX``. System calls of another
  architecture or ABI (i386, x32) kill the process (``SIGSYS``). Where libseccomp or ``pyseccomp`` is
  missing the filter is left out (``SandboxResult.isolation`` then lacks ``seccomp``) and the namespaces
  remain the boundary.
* **resource limits**: ``RLIMIT_AS`` = the memory cap, ``RLIMIT_CPU`` = timeout + 1 s,
  ``RLIMIT_NOFILE`` = 32, ``RLIMIT_FSIZE`` = ``max_file_bytes`` (0: no file can be written to; writing
  raises ``OSError``), ``RLIMIT_CORE`` = 0, ``RLIMIT_NPROC`` = 0 (no fork, no threads: counted for the
  unprivileged uid).
* **an audit hook** (``sys.addaudithook``) as defence in depth: it denies opening or listing paths
  outside the working directory, the standard library and ``/site``, writing outside the working
  directory, sockets, ctypes, subprocesses, exec, fork, kill and links, and imports of ``_ctypes``,
  ``_posixsubprocess`` and a few internals, with ``PermissionError("sandbox: ... is not allowed")``.
  It is the first fence a plain attempt meets, so its messages are the ones usually seen; hostile code
  can switch it off (it lives in the same interpreter), and what holds then is the layers above.

Where bwrap is missing or cannot build its namespaces (no user namespaces, a container that forbids
``unshare``/``mount``), ``run_function`` **refuses** with a one-line ``ConfigError`` that names the fix,
unless the operator opts in with ``AUTOINTERP_SANDBOX=unsafe-hook``: the child then starts directly
(``SandboxResult.isolation`` begins with ``unsafe-hook``) with the rlimits, the seccomp filter, a private
network namespace (``unshare(CLONE_NEWNET)``, where permitted), the uid drop to ``nobody`` when the
service runs as root (keeping ``CAP_DAC_READ_SEARCH`` where the standard library is not world-readable),
and the audit hook as the only read fence: it can then read any file its uid (or that capability) can.

Standard-library imports work (``math``, ``random``, ``re``, ``itertools``, ...), and so does ``numpy``
when the service's interpreter has it (``IMPORTABLE_PACKAGES``); nothing else from site-packages can be
imported. A call costs one bwrap plus one interpreter start: about 20-40 ms on a 2-core machine, against
15-25 ms for ``unsafe-hook`` (``python -m evals.perf.bench_sandbox`` measures both).

Errors: a source that does not compile, raises while being defined, or defines no entry function, and
inputs that are not JSON-able raise ``InputError``; a sandbox that cannot be built raises ``ConfigError``
(both reach an agent as tool errors); a timeout, the memory cap, or a crash of the child come back as
``SandboxResult.error`` with the outcomes of the inputs that finished before it. An exception inside
``f`` (a ``PermissionError`` of a fence included) is reported for that input only (``CallOutcome.error``).

Values cross the process boundary as JSON text with Python's ``NaN``/``Infinity``/``-Infinity`` tokens,
so non-finite floats survive the round trip; tuples come back as lists, numpy scalars and arrays as
Python numbers and lists.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import glob
import importlib.util
import json
import marshal
import math
import os
import pwd
import selectors
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from store.errors import ConfigError, InputError
from store.settings import Settings

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
_NOBODY = 65534
_WORK = "/sandbox"  # the child's working directory inside the bwrap sandbox (a fresh tmpfs)
_SITE = "/site"  # where the importable packages are bound inside the bwrap sandbox
_REFUSED = "cannot run untrusted function code"
_OPT_IN = (
    "or set AUTOINTERP_SANDBOX=unsafe-hook to run it fenced only by an in-process audit hook, "
    "which hostile code can switch off"
)
#: The child's exit status when it could not finish its own set-up (the uid drop, the capability check).
_SETUP_FAILED = 72

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
        description="The isolation layers that took effect, bwrap's then the child's (see tools.functions.sandbox).",
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
    python = _python()
    bwrap = _bwrap()
    request["seccomp"] = _seccomp_program()
    run = _Run(list(inputs), limits, bwrap=bwrap is not None)
    if bwrap is not None:
        argv, layers = _bwrap_command(bwrap, python, limits)
        request.update(_bwrap_request(python))
        run.execute(_payload(request), argv, "/", {}, started, layers)
    else:
        tmp = tempfile.mkdtemp(prefix="autointerp-sandbox-")
        try:
            request.update(_hook_request(python, os.path.realpath(tmp)))
            argv = [python, "-I", "-S", "-B", "-X", "utf8", "-c", _RUNNER]
            run.execute(_payload(request), argv, tmp, _CHILD_ENV, started, ["unsafe-hook"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if run.refused is not None:
        raise ConfigError(run.refused)
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


def _payload(request: dict[str, Any]) -> bytes:
    data = marshal.dumps(request)
    if len(data) > _MAX_PAYLOAD_BYTES:
        raise InputError(f"inputs and source are {len(data)} bytes; the limit is {_MAX_PAYLOAD_BYTES}")
    return data


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
    return {
        "code": code,
        "entry": entry,
        "inputs": plain,
        "memory_mb": limits.memory_mb,
        "cpu_s": math.ceil(limits.timeout_s) + 1,
        "file_bytes": limits.max_file_bytes,
        "output_chars": limits.max_output_chars,
        "stdout_chars": limits.max_stdout_chars,
    }


def _own_packages(python: str) -> dict[str, list[str]]:
    """The importable packages, when the child runs this very interpreter (else none)."""
    return _packages() if os.path.realpath(python) == os.path.realpath(sys.executable) else {}


def _hook_request(python: str, tmp: str) -> dict[str, Any]:
    """What the child needs in ``unsafe-hook`` mode: host paths, and the uid drop it must do itself."""
    packages = _own_packages(python)
    return {
        "mode": "hook",
        "tmp": tmp,
        "packages": {name: dirs[0] for name, dirs in packages.items()},
        "pkg_dirs": sorted({d for dirs in packages.values() for d in dirs[1:]}),
        "site_dirs": sorted({dirs[0] for dirs in packages.values()}),
        "nobody": _nobody(),
        "ppid": os.getpid(),
    }


def _bwrap_request(python: str) -> dict[str, Any]:
    """What the child needs in the bwrap sandbox: paths as it sees them; as root, the uid it must drop to."""
    packages = _own_packages(python)
    ids = (_nobody() or (_NOBODY, _NOBODY)) if os.geteuid() == 0 else None
    return {
        "mode": "bwrap",
        "tmp": _WORK,
        "packages": dict.fromkeys(packages, _SITE),
        "pkg_dirs": sorted({f"{_SITE}/{os.path.basename(d)}" for dirs in packages.values() for d in dirs[1:]}),
        "site_dirs": [_SITE] if packages else [],
        "nobody": ids,
        "ppid": None,
    }


def _bwrap() -> str | None:
    """The bwrap executable to start the child with; None when the operator opted in to ``unsafe-hook``.

    Raises ``ConfigError`` (one line, naming the fix) when bubblewrap is asked for but missing.
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "settings"
        raise ConfigError(f"{_REFUSED}: AUTOINTERP_{where.upper()} is invalid: {first.get('msg')}") from None
    if settings.sandbox == "unsafe-hook":
        return None
    path = settings.sandbox_bwrap or shutil.which("bwrap")
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    if settings.sandbox_bwrap:
        why = f"AUTOINTERP_SANDBOX_BWRAP={settings.sandbox_bwrap} is not an executable file"
    else:
        why = "bubblewrap (bwrap) is not installed"
    raise ConfigError(f"{_REFUSED}: {why}; install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) {_OPT_IN}")


def _bwrap_command(bwrap: str, python: str, limits: SandboxLimits) -> tuple[list[str], list[str]]:
    """The bwrap command line that starts the child, and the isolation layers it sets up."""
    if os.geteuid() == 0:
        # bwrap as root makes no user namespace; the child keeps only what it needs to become nobody.
        layers = ["bwrap", "mntns", "pidns", "netns", "ipcns", "utsns"]
        identity = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        identity += ["--cap-drop", "ALL"]
        for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"):
            identity += ["--cap-add", cap]
    else:
        layers = ["bwrap", "userns", "mntns", "pidns", "netns", "ipcns", "utsns"]
        identity = ["--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
        identity += ["--uid", str(_NOBODY), "--gid", str(_NOBODY)]
    env: list[str] = ["--clearenv"]
    for key, value in _CHILD_ENV.items():
        env += ["--setenv", key, value]
    work_bytes = max(1 << 20, 4 * limits.max_file_bytes)
    argv = [bwrap, "--die-with-parent", "--new-session", *identity, *env, *_bwrap_mounts(python)]
    argv += ["--perms", "01777", "--size", str(work_bytes), "--tmpfs", _WORK, "--chdir", _WORK]
    argv += ["--remount-ro", "/", "--", os.path.realpath(python), "-I", "-S", "-B", "-X", "utf8", "-c", _RUNNER]
    return argv, layers


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


@functools.lru_cache(maxsize=4)
def _bwrap_mounts(python: str) -> tuple[str, ...]:
    """bwrap arguments for the sandbox's file system: read-only binds of what the interpreter needs.

    The executable (resolved), the standard library and ``libpython`` of the running interpreter,
    ``/usr/lib``, ``/usr/lib64``, ``/lib*`` (symlinks where the host has them) and ``/etc/ld.so.cache``,
    each at its own path; the importable packages at ``/site``; every ``site-packages`` or
    ``dist-packages`` folder inside those binds covered by an empty read-only tmpfs; ``/proc`` and ``/dev``.
    """
    binds: list[tuple[str, str]] = []  # (source, destination)
    for d in ("/usr/lib", "/usr/lib64"):
        if os.path.isdir(d):
            binds.append((os.path.realpath(d), d))
    links: list[str] = []
    for d in ("/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(d):
            links += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            binds.append((d, d))
    if os.path.isfile("/etc/ld.so.cache"):
        binds.append(("/etc/ld.so.cache", "/etc/ld.so.cache"))
    exe = os.path.realpath(python)
    binds.append((exe, exe))
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    binds.append((stdlib, stdlib))
    bases = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)})
    for entry in sys.path:  # lib-dynload and the stdlib zip, where they lie apart from the stdlib
        real = os.path.realpath(entry) if entry else ""
        if _inside(real, bases) and (
            (os.path.basename(real) == "lib-dynload" and os.path.isdir(real))
            or (real.endswith(".zip") and os.path.isfile(real))
        ):
            binds.append((real, real))
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
        if libdir and soname and os.path.isfile(os.path.join(libdir, soname)):
            lib = os.path.join(libdir, soname)
            binds.append((os.path.realpath(lib), lib))
    for dirs in _own_packages(python).values():
        binds += [(d, f"{_SITE}/{os.path.basename(d)}") for d in dirs[1:]]
    roots: list[str] = []
    for _, dest in sorted(set(binds), key=lambda b: len(b[1])):
        if not _inside(dest, roots):
            roots.append(dest)
    # Folders on the way to a bind are made 0755 first (bwrap would copy modes such as /root's 0700).
    parents = sorted({os.path.dirname(r) for r in roots} - {"/"} | {_SITE})
    args: list[str] = []
    for parent in parents:
        if not _inside(parent, roots):
            args += ["--perms", "0755", "--dir", parent]
    sources = dict((dest, source) for source, dest in binds)
    for root in roots:
        args += ["--ro-bind", sources[root], root]
    args += links
    masks: set[str] = set()
    candidates = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    for root in roots:
        for pattern in ("{}-packages", "python*/{}-packages", "python*/*/{}-packages"):
            for kind in ("site", "dist"):
                candidates += glob.glob(os.path.join(root, pattern.format(kind)))
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if os.path.isdir(real) and _inside(real, roots):
            masks.add(real)
    for mask in sorted(masks):
        args += ["--tmpfs", mask, "--remount-ro", mask]
    args += ["--proc", "/proc", "--dev", "/dev"]
    return tuple(args)


#: Calls the seccomp filter fails with EPERM (names libseccomp does not know are skipped).
_SECCOMP_DENY = (
    # other processes' memory and descriptors
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_open",
    "pidfd_getfd",
    # mounts and namespaces
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    # new programs and processes (threads are clone with CLONE_THREAD, stopped by RLIMIT_NPROC)
    "execve",
    "execveat",
    "fork",
    "vfork",
    # kernel interfaces with a history of privilege escalations
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "modify_ldt",
    "uselib",
    # kernel code and system-wide switches
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "quotactl",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "vhangup",
    "lookup_dcookie",
    # file handles skip path look-up
    "open_by_handle_at",
    "name_to_handle_at",
    "fanotify_init",
)
_CLONE_THREAD = 0x00010000
_CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)
_AF_UNIX = 1
_TIOCSTI = 0x5412


@functools.lru_cache(maxsize=1)
def _seccomp_program() -> bytes:
    """The seccomp BPF program the child loads before the user's code; empty without libseccomp/pyseccomp."""
    try:
        import pyseccomp as sc
    except Exception:  # not installed, or libseccomp.so.2 missing (it raises RuntimeError at import)
        return b""
    try:
        rules = sc.SyscallFilter(defaction=sc.ALLOW)
        deny = sc.ERRNO(errno.EPERM)
        for name in _SECCOMP_DENY:
            with contextlib.suppress(OSError):  # a name this libseccomp does not know
                rules.add_rule(deny, name)
        rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # its flags are out of reach; libc falls back to clone
        rules.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
        for flag in _CLONE_NAMESPACES:
            rules.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        rules.add_rule(deny, "socket", sc.Arg(0, sc.NE, _AF_UNIX))
        rules.add_rule(deny, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, _TIOCSTI))
        with tempfile.TemporaryFile() as out:
            rules.export_bpf(out)
            out.seek(0)
            program = out.read()
    except Exception:  # pragma: no cover - a libseccomp that cannot build the filter: namespaces remain
        return b""
    return program if len(program) % 8 == 0 else b""


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
    bwrap: bool = True
    outcomes: list[CallOutcome] = field(default_factory=list)
    isolation: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    error: str | None = None
    fatal: str | None = None
    refused: str | None = None
    phase: str = "starting"
    done: bool = False
    stderr: bytearray = field(default_factory=bytearray)

    def execute(
        self, data: bytes, argv: list[str], cwd: str, env: dict[str, str], started: float, layers: list[str]
    ) -> None:
        """Run the child to completion, a timeout, or a protocol violation; always reap it."""
        deadline = started + self.limits.timeout_s
        self.layers = layers
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ConfigError(f"cannot start the sandbox process ({argv[0]}): {exc}") from None
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
            started = [str(s) for s in msg["started"]] if isinstance(msg["started"], list) else []
            self.isolation = self.layers + started
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
        last = [ln.strip() for ln in tail.strip().splitlines() if ln.strip()]
        if self.phase == "starting" and kind == "exited" and self._refuse(number, last):
            return
        if self.bwrap and kind == "exited" and number > 128:  # bwrap reports a killed child as 128 + signal
            kind, number = "killed", number - 128
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
        if last and "memory cap" not in self.error:
            self.error += f": {last[-1][:200]}"

    def _refuse(self, status: int, last: list[str]) -> bool:
        """The sandbox itself could not be built (bwrap failed, or the child's set-up did): a ConfigError."""
        if self.bwrap:
            failures = [ln for ln in last if ln.startswith("bwrap: ")]
            if failures:
                if "source path" in failures[-1]:
                    fix = "make the interpreter's files readable by the user the service runs as"
                else:
                    fix = (
                        "allow namespaces for this service (unprivileged user namespaces for a non-root "
                        "service: sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; "
                        "in a container: permit unshare and mount)"
                    )
                self.refused = (
                    f"{_REFUSED}: bubblewrap could not build the sandbox ({failures[-1][:200]}); {fix} {_OPT_IN}"
                )
                return True
        if status == _SETUP_FAILED:
            why = last[-1][:200] if last else "no reason given"
            self.refused = f"{_REFUSED}: the sandboxed process could not finish its set-up: {why}"
            return True
        return False


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
