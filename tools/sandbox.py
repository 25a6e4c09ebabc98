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

# The program the child interpreter runs (``python -I -S -B -c _RUNNER``). It imports only built-in or
# tiny standard modules so that a call stays cheap; see the module docstring for what it sets up.
# Protocol, child -> parent, one JSON object per line on a private copy of fd 1 (fd 1 itself goes to
# /dev/null): {"started": [isolation...]}, then {"fatal": kind, "message": ...} or {"ready": true},
# then {"i": k, "o": output, "e": error, "s": stdout} per input, then {"done": true}.
_RUNNER = r'''
import marshal
import os
import sys
from _json import encode_basestring_ascii as quote


def main():
    req = marshal.loads(sys.stdin.buffer.read())
    proto = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    write = os.write

    def emit(text):
        view = memoryview((text + "\n").encode("ascii"))
        while view:
            view = view[write(proto, view):]

    mb = req["memory_mb"]
    tmp = req["tmp"]
    isolation = []
    stdlib = [os.path.realpath(p) for p in sys.path]
    pkg_dirs = req["pkg_dirs"]
    site_dirs = req["site_dirs"]

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
    except Exception:
        libc = None

    # 1. network: a private namespace with nothing in it.
    if libc is not None and hasattr(libc, "unshare"):
        if os.geteuid() == 0 and libc.unshare(0x40000000) == 0:
            isolation.append("netns")
        elif os.geteuid() != 0 and libc.unshare(0x10000000 | 0x40000000) == 0:
            isolation.append("userns+netns")

    # 2. privileges: root -> nobody (keeping CAP_DAC_READ_SEARCH only if the stdlib is not world-readable).
    ids = req["nobody"]
    if ids is not None and os.geteuid() == 0:
        isolation.append(drop_root(libc, ids, tmp, stdlib + pkg_dirs + site_dirs))

    # 3. die with the parent; never gain privileges.
    if libc is not None and hasattr(libc, "prctl"):
        libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
        if os.getppid() != req["ppid"]:
            os._exit(70)
        if libc.prctl(38, 1, 0, 0, 0) == 0:  # PR_SET_NO_NEW_PRIVS
            isolation.append("no_new_privs")

    # 4. resource limits.
    import resource
    import _signal

    _signal.signal(_signal.SIGXFSZ, _signal.SIG_IGN)
    cpu = req["cpu_s"]
    for name, value in (
        ("RLIMIT_AS", mb * 1024 * 1024),
        ("RLIMIT_CPU", cpu),
        ("RLIMIT_NOFILE", 32),
        ("RLIMIT_FSIZE", req["file_bytes"]),
        ("RLIMIT_CORE", 0),
        ("RLIMIT_NPROC", 0),
    ):
        limit = getattr(resource, name, None)
        if limit is None:
            continue
        hard = value + 1 if name == "RLIMIT_CPU" else value
        try:
            resource.setrlimit(limit, (value, hard))
        except (ValueError, OSError):
            continue
        isolation.append(name)

    # 5. imports: the standard library plus the allowed packages, nothing else from site-packages.
    if pkg_dirs:
        finder = [f for f in sys.meta_path if getattr(f, "__name__", "") == "PathFinder"][0]

        class AllowedPackages:
            """Finds only the allowed top-level packages, in their own site directory."""

            @staticmethod
            def find_spec(name, path=None, target=None):
                where = req["packages"].get(name)
                if path is None and where is not None:
                    return finder.find_spec(name, [where])
                return None

            @staticmethod
            def invalidate_caches():
                pass

        sys.meta_path.append(AllowedPackages)
    for module_name in ("os", "posix"):
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "pidfd_open"):
            delattr(module, "pidfd_open")
    if hasattr(_signal, "pidfd_send_signal"):
        delattr(_signal, "pidfd_send_signal")

    # 6. the audit hook.
    install_hook(tmp, stdlib + pkg_dirs + [tmp], site_dirs)
    isolation.append("audit_hook")
    emit('{"started":[%s]}' % ",".join(quote(s) for s in isolation))

    # The user's source.
    sink = Capture(0)
    sys.stdout = sys.stderr = sink
    entry = req["entry"]
    try:
        code = compile(req["code"], "<function>", "exec")
    except MemoryError:
        emit('{"fatal":"memory","message":""}')
        os._exit(0)
    except (SyntaxError, ValueError, RecursionError) as exc:
        where = " (line %d)" % exc.lineno if getattr(exc, "lineno", None) else ""
        msg = getattr(exc, "msg", None) or str(exc)
        text = "function source does not compile: %s: %s%s" % (type(exc).__name__, msg, where)
        emit('{"fatal":"compile","message":%s}' % quote(text))
        os._exit(0)
    namespace = {"__name__": "__sandbox__", "__builtins__": __builtins__}
    try:
        exec(code, namespace)
    except MemoryError:
        emit('{"fatal":"memory","message":""}')
        os._exit(0)
    except BaseException as exc:
        text = "function source failed while being defined: " + describe(exc, mb, line=True)
        emit('{"fatal":"define","message":%s}' % quote(text))
        os._exit(0)
    fn = namespace.get(entry)
    if not callable(fn):
        defined = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("__"))
        text = "source defines no function %s" % entry
        if fn is not None:
            text += " (%s is of type %s)" % (entry, type(fn).__name__)
        if defined:
            text += "; it defines: " + ", ".join(defined[:10])
        emit('{"fatal":"entry","message":%s}' % quote(text))
        os._exit(0)
    emit('{"ready":true}')

    out_cap = req["output_chars"]
    stdout_cap = req["stdout_chars"]
    for i, x in enumerate(req["inputs"]):
        cap = Capture(stdout_cap)
        sys.stdout = sys.stderr = cap
        out = "null"
        err = None
        y = None
        try:
            y = fn(x)
            try:
                out = encode(y, 0)
            except Unencodable as exc:
                out, err = "null", "OutputError: " + str(exc)
            else:
                if len(out) > out_cap:
                    err = "OutputError: the output is %d characters as JSON; the cap is %d" % (len(out), out_cap)
                    out = "null"
        except BaseException as exc:
            out, err = "null", describe(exc, mb)
        finally:
            sys.stdout = sys.stderr = sink
            y = None
        emit('{"i":%d,"o":%s,"e":%s,"s":%s}' % (i, out, "null" if err is None else quote(err), quote(cap.text())))
    emit('{"done":true}')
    os._exit(0)


class Unencodable(Exception):
    pass


def encode(v, depth):
    if depth > 64:
        raise Unencodable("the output is nested more than 64 levels deep")
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return quote(str.__str__(v))
    if isinstance(v, float):
        v = float.__float__(v)
        if v != v:
            return "NaN"
        if v in (float("inf"), float("-inf")):
            return "Infinity" if v > 0 else "-Infinity"
        return float.__repr__(v)
    if isinstance(v, int):
        return int.__repr__(int(v))
    if isinstance(v, (list, tuple)):
        return "[" + ",".join([encode(x, depth + 1) for x in v]) + "]"
    if isinstance(v, dict):
        parts = []
        for k, x in v.items():
            if not isinstance(k, str):
                raise Unencodable("the output is a dict with a %s key; only str keys are JSON-able" % type(k).__name__)
            parts.append(quote(str.__str__(k)) + ":" + encode(x, depth + 1))
        return "{" + ",".join(parts) + "}"
    if callable(getattr(v, "tolist", None)) and type(v).__module__.split(".")[0] == "numpy":
        return encode(v.tolist(), depth + 1)
    raise Unencodable("an output of type %s is not JSON-able" % type(v).__name__)


def describe(exc, mb, line=False):
    name = type(exc).__name__
    try:
        msg = str(exc).strip()
    except BaseException:
        msg = ""
    msg = msg.splitlines()[0] if msg else ""
    if isinstance(exc, MemoryError) and not msg:
        msg = "out of memory (the sandbox's memory cap is %d MB)" % mb
    if len(msg) > 300:
        msg = msg[:300] + "..."
    text = "%s: %s" % (name, msg) if msg else name
    if line:
        tb = exc.__traceback__
        lineno = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<function>":
                lineno = tb.tb_lineno
            tb = tb.tb_next
        if lineno is not None:
            text += " (line %d)" % lineno
    return text


class Capture:
    """A write-only text stream that keeps the first ``cap`` characters."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, cap):
        self.parts = []
        self.room = cap
        self.dropped = 0

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        if self.room > 0:
            piece = s[: self.room]
            self.parts.append(piece)
            self.room -= len(piece)
            self.dropped += len(s) - len(piece)
        else:
            self.dropped += len(s)
        return len(s)

    def writelines(self, lines):
        for s in lines:
            self.write(s)

    def flush(self):
        pass

    def isatty(self):
        return False

    def writable(self):
        return True

    def text(self):
        text = "".join(self.parts)
        if self.dropped:
            text += "... [%d more characters not kept]" % self.dropped
        return text


def world_readable(path):
    """True when ``path`` (if it exists) and its folders are open to other users."""
    try:
        p = os.path.realpath(path)
        if os.stat(p).st_mode & 0o005 != 0o005:
            return False
        while True:
            parent = os.path.dirname(p)
            if parent == p:
                return True
            p = parent
            if not os.stat(p).st_mode & 0o001:
                return False
    except OSError:
        return True


def drop_root(libc, ids, tmp, needed):
    uid, gid = ids
    keep = not all(world_readable(p) for p in needed)
    if keep and (libc is None or not hasattr(libc, "capset") or libc.prctl(8, 1, 0, 0, 0) != 0):
        return "uid:root (cannot keep CAP_DAC_READ_SEARCH)"
    try:
        os.chown(tmp, uid, gid)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    except OSError as exc:
        return "uid:%d (setuid failed: %s)" % (os.getuid(), exc.strerror)
    if not keep:
        return "uid:nobody"
    import ctypes

    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)(1 << 2, 1 << 2, 0, 0, 0, 0)  # effective, permitted = CAP_DAC_READ_SEARCH
    if libc.capset(header, data) != 0:
        return "uid:nobody (capset failed)"
    return "uid:nobody+CAP_DAC_READ_SEARCH"


def install_hook(tmp, read_roots, list_only):
    realpath = os.path.realpath
    fsdecode = os.fsdecode
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    devices = frozenset(("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"))
    read_roots = tuple(read_roots)
    list_only = frozenset(list_only)
    write_roots = (tmp,)
    blocked = (
        "socket.", "ctypes.", "subprocess.", "pty.", "_winapi.", "winreg.", "msvcrt.", "webbrowser.",
        "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.kill", "os.startfile",
        "os.add_dll_directory", "resource.setrlimit", "resource.prlimit", "signal.pthread_kill",
        "os.symlink", "os.link",  # links could race the path checks below; no suite function needs them
    )
    blocked_imports = frozenset((
        "_posixsubprocess", "_ctypes", "_testcapi", "_testinternalcapi", "_xxsubinterpreters", "_posixshmem",
    ))
    # event -> (indices of path arguments, indices of dir_fd arguments)
    mutators = {
        "os.mkdir": ((0,), (2,)),
        "os.rmdir": ((0,), (1,)),
        "os.remove": ((0,), (1,)),
        "os.rename": ((0, 1), (2, 3)),
        "os.chmod": ((0,), (2,)),
        "os.chown": ((0,), (3,)),
        "os.truncate": ((0,), ()),
        "os.utime": ((0,), (3,)),
        "os.setxattr": ((0,), ()),
        "os.removexattr": ((0,), ()),
        "os.chflags": ((0,), ()),
        "os.lchflags": ((0,), ()),
        "os.mkfifo": ((0,), (2,)),
        "os.mknod": ((0,), (3,)),
    }
    readers = frozenset(("os.listdir", "os.scandir", "os.chdir", "os.listxattr", "os.getxattr", "os.fwalk"))

    def deny(what, why=""):
        raise PermissionError("sandbox: %s is not allowed%s" % (what, why))

    def inside(p, roots):
        for r in roots:
            if p == r or p.startswith(r + "/"):
                return True
        return False

    def resolve(path, what):
        if path is None and what == "listing":
            path = "."
        if not isinstance(path, (str, bytes)):  # the interpreter passes paths already converted
            deny("%s by file descriptor or %s" % (what, type(path).__name__))
        try:
            return realpath(fsdecode(path))
        except Exception:
            deny("%s of %r" % (what, path))

    def hook(event, args):
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if isinstance(path, int) and path in (0, 1, 2):
                return
            p = resolve(path, "opening files")
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags
            )
            if writing:
                if not inside(p, write_roots):
                    deny("writing " + p, " (only the working directory is writable)")
            elif not (p in devices or inside(p, read_roots)):
                deny("opening %s" % p)
        elif event in readers:
            p = resolve(args[0] if args else None, "listing")
            if not (inside(p, read_roots) or p in list_only):
                deny("%s of %s" % (event, p))
        elif event in mutators:
            paths, dir_fds = mutators[event]
            for k in dir_fds:
                if k < len(args) and args[k] not in (None, -100):
                    deny("%s relative to a directory descriptor" % event)
            for k in paths:
                if k < len(args):
                    p = resolve(args[k], event)
                    if not inside(p, write_roots):
                        deny("%s on %s" % (event, p), " (only the working directory is writable)")
        elif event == "import":
            if args and args[0] in blocked_imports:
                deny("importing %s" % args[0])
        elif event.startswith(blocked):
            deny(event)

    sys.addaudithook(hook)


try:
    main()
except MemoryError:
    os._exit(71)
'''


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
        default_factory=list, description="The isolation layers that took effect in the child (see tools.sandbox)."
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


def runner_source() -> str:
    """The program the child interpreter runs (for inspection and tests)."""
    return _RUNNER


def _main() -> None:  # pragma: no cover - manual smoke test: python -m tools.sandbox
    result = run_function("def f(x):\n    return x * 2\n", [1, 2.5, "ab"])
    print(result.model_dump_json(indent=2))
    print("isolation:", ", ".join(result.isolation), "| seconds:", round(result.seconds, 4), file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    _main()
