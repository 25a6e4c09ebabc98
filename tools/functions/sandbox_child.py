"""The program the sandbox's child interpreter runs (``python -I -S -B -c <this file's text>``).

It is never imported: ``tools.functions.sandbox`` reads this file as text and hands it to a fresh interpreter,
started inside bubblewrap (``mode`` "bwrap") or, where the operator opted in, directly (``mode`` "hook").
It imports only built-in or tiny standard modules so that a call stays cheap. Before the user's code, in order:

1. bwrap mode, as root (bwrap left it ``CAP_SETUID``/``CAP_SETGID``/``CAP_SETPCAP`` and nothing else):
   empty the capability bounding and inheritable sets, drop the groups, become ``nobody``; then, in both
   bwrap cases, read ``/proc/self/status`` and stop (exit 72, which the parent turns into a
   ``ConfigError``) if any capability set is not empty. Hook mode: ``unshare(CLONE_NEWNET)`` and the
   old uid drop (keeping ``CAP_DAC_READ_SEARCH`` only where the standard library is not world-readable).
2. ``PR_SET_NO_NEW_PRIVS`` (and ``PR_SET_PDEATHSIG`` in hook mode); 3. the rlimits;
4. a finder for the allowed packages only; 5. the seccomp program the parent compiled (``prctl``);
6. the audit hook (``ctypes`` stays imported, as numpy needs it; the hook denies every ``ctypes.*`` event).

``tools.functions.sandbox``'s docstring says what each layer holds. Protocol, child -> parent, one JSON
object per line on a private copy of fd 1 (fd 1 itself goes to /dev/null): {"started": [isolation...]},
then {"fatal": kind, "message": ...} or {"ready": true}, then {"i": k, "o": output, "e": error, "s":
stdout} per input, then {"done": true}.
"""

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
            view = view[write(proto, view) :]

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

    if req["mode"] == "bwrap":
        # 1. privileges: bwrap built the namespaces; as root, become nobody with every capability set empty.
        ids = req["nobody"]
        if ids is not None and os.geteuid() == 0:
            problem = become_nobody(libc, ids)
            if problem:
                setup_failed("cannot drop to uid %d: %s" % (ids[0], problem))
        left = capabilities()
        if left is None or left:
            setup_failed("capabilities left after the drop: %s" % (left if left is not None else "unknown"))
        isolation.append("uid:nobody" if os.getuid() == 65534 else "uid:%d" % os.getuid())
        isolation.append("caps:none")
        # 2. never gain privileges (bwrap set it already).
        if libc is not None:
            libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            if libc.prctl(39, 0, 0, 0, 0) == 1:  # PR_GET_NO_NEW_PRIVS
                isolation.append("no_new_privs")
    else:
        # 1. network: a private namespace with nothing in it.
        if libc is not None and hasattr(libc, "unshare"):
            if os.geteuid() == 0 and libc.unshare(0x40000000) == 0:
                isolation.append("netns")
            elif os.geteuid() != 0 and libc.unshare(0x10000000 | 0x40000000) == 0:
                isolation.append("userns+netns")

        # privileges: root -> nobody (keeping CAP_DAC_READ_SEARCH only if the stdlib is not world-readable).
        ids = req["nobody"]
        if ids is not None and os.geteuid() == 0:
            isolation.append(drop_root(libc, ids, tmp, stdlib + pkg_dirs + site_dirs))

        # 2. die with the parent; never gain privileges.
        if libc is not None and hasattr(libc, "prctl"):
            libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
            if os.getppid() != req["ppid"]:
                os._exit(70)
            if libc.prctl(38, 1, 0, 0, 0) == 0:  # PR_SET_NO_NEW_PRIVS
                isolation.append("no_new_privs")

    # 3. resource limits.
    import _signal
    import resource

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

    # 4. imports: the standard library plus the allowed packages, nothing else from site-packages.
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

    # 5. the seccomp filter, last of the kernel layers (it forbids what the steps above needed).
    program = req.get("seccomp")
    if program and libc is not None and load_seccomp(libc, program):
        isolation.append("seccomp")
    libc = None

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


def setup_failed(message):
    """Stop before any user code runs; the parent reports the sandbox as unusable (a ConfigError)."""
    os.write(2, ("sandbox set-up failed: %s\n" % message).encode("utf-8", "replace"))
    os._exit(72)


def become_nobody(libc, ids):
    """As root inside bwrap: empty the bounding and inheritable sets, drop groups, uid and gid to nobody."""
    if libc is None:
        return "ctypes is unavailable"
    import ctypes

    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (needs CAP_SETPCAP; EINVAL past the last cap)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    keep = (1 << 6) | (1 << 7)  # CAP_SETGID, CAP_SETUID: still needed below
    data = (ctypes.c_uint32 * 6)(keep, keep, 0, 0, 0, 0)  # effective, permitted, inheritable = none
    if libc.capset(header, data) != 0:
        return "capset failed (errno %d)" % ctypes.get_errno()
    uid, gid = ids
    try:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # from uid 0 without PR_SET_KEEPCAPS: permitted and effective are cleared
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def capabilities():
    """The non-empty capability sets of this process ({"CapEff": "0000..01c0", ...}); None if unreadable."""
    try:
        with open("/proc/self/status") as fh:
            text = fh.read()
    except OSError:
        return None
    left = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb") and int(value.strip(), 16):
            left[name] = value.strip()
    return left


def load_seccomp(libc, program):
    """Install the BPF program (the parent compiled it with libseccomp); True when the kernel took it."""
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    return libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def install_hook(tmp, read_roots, list_only):
    realpath = os.path.realpath
    fsdecode = os.fsdecode
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    devices = frozenset(("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"))
    read_roots = tuple(read_roots)
    list_only = frozenset(list_only)
    write_roots = (tmp,)
    blocked = (
        "socket.",
        "ctypes.",
        "subprocess.",
        "pty.",
        "_winapi.",
        "winreg.",
        "msvcrt.",
        "webbrowser.",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.kill",
        "os.startfile",
        "os.add_dll_directory",
        "resource.setrlimit",
        "resource.prlimit",
        "signal.pthread_kill",
        "os.symlink",
        "os.link",  # links could race the path checks below; no suite function needs them
    )
    blocked_imports = frozenset(
        (
            "_posixsubprocess",
            "_ctypes",
            "_testcapi",
            "_testinternalcapi",
            "_xxsubinterpreters",
            "_posixshmem",
        )
    )
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

    denied = PermissionError  # bound now: swapping builtins.PermissionError later changes nothing here

    def deny(what, why=""):
        raise denied("sandbox: %s is not allowed%s" % (what, why))

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


if __name__ == "__main__":  # always true under ``python -c``; importing this file runs nothing
    try:
        main()
    except MemoryError:
        os._exit(71)
