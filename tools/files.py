"""Which files a request may make this process read, and the one way tools read them.

A `FileAccess` travels with the work (``ToolContext.files``; the suite readers, the pairs reader and
file corpora take one), so a tool never opens a path a request names by itself:

- ``FileAccess()`` (**local**): the CLI, run by the machine's own user, reads any path the process
  can read (relative to the working directory), with helpful messages (not found, a directory). Only
  regular files: a device such as ``/dev/zero``, a FIFO or a socket is refused before it is opened.
- ``FileAccess(roots, max_bytes=…, max_line_bytes=…)`` (**confined**): the API, the jobs it submits
  and the workers. A path is resolved, symlinks and ``..`` included, and must lie under one of the
  roots (a relative path is looked up in each root in turn), name a regular file of at most
  ``max_bytes`` and hold no line longer than ``max_line_bytes``. Whatever the reason a path is
  refused (outside the roots, missing, a symlink leaving them, a directory, a device, a FIFO), the
  message is the same one line, so an answer never tells whether a path exists. A file inside the
  roots that is too large, or has an overlong line, is named as such.

Reading is streaming and bounded: ``open`` stats the path first (a non-regular file is never
opened), opens it with ``O_NOFOLLOW`` (confined) and ``O_NONBLOCK`` (a FIFO swapped in cannot block),
checks with ``fstat`` that it opened the same regular file, and returns a reader that stops with an
error once more than ``max_bytes`` were read, even from a file that grows; ``lines`` yields numbered
lines no longer than ``max_line_bytes``. Every refusal is a `FileAccessError` (an ``InputError``: a
4xx over the API).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from store.errors import FileAccessError

__all__ = ["FileAccess", "FileAccessError"]

#: Characters of a requested path shown in a message (the rest is cut).
_SHOWN_CHARS = 160
#: Longest path considered at all (longer ones are refused like any unreadable path).
_MAX_PATH_CHARS = 4096
_CHUNK = 1 << 16
#: A Hugging Face hub id: ``name`` or ``org/name`` (letters, digits, ``-``, ``_``, ``.``).
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _shown(text: str) -> str:
    """The requested path for a message: as given, cut short, quoted (one line whatever it holds)."""
    cut = text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"
    return repr(cut)


def _plain(path: Path) -> str:
    """A local path for a message: as it is when printable, else quoted (one line)."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def _inside(text: str, roots: Sequence[Path]) -> Iterator[Path]:
    """The real paths (symlinks and ``..`` resolved) that ``text`` names under ``roots``: itself when
    absolute, else looked up in each root in turn; only existing paths that stay inside a root."""
    given = Path(text)
    for candidate in [given] if given.is_absolute() else [root / given for root in roots]:
        try:
            real = Path(os.path.realpath(candidate, strict=True))
        except (OSError, ValueError):
            continue
        if any(real.is_relative_to(root) for root in roots):
            yield real


class _CappedRaw(io.RawIOBase):
    """An open file descriptor read at most ``limit`` bytes far; one byte more is an error."""

    def __init__(self, fd: int, limit: int | None, over: str) -> None:
        super().__init__()
        self._file = io.FileIO(fd, "rb", closefd=True)
        self._limit = limit
        self._over = over
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        if self._limit is not None:
            view = view[: max(0, self._limit - self._read) + 1]
        count = self._file.readinto(view) or 0
        self._read += count
        if self._limit is not None and self._read > self._limit:
            raise FileAccessError(self._over)
        return count

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            super().close()


class FileAccess:
    """A file-access policy: local (``roots`` None: any readable path) or confined to ``roots``.

    ``max_bytes`` caps the bytes read from one file and ``max_line_bytes`` one line (None: no cap).
    See the module docstring for what each policy allows and how files are read.
    """

    __slots__ = ("max_bytes", "max_line_bytes", "model_roots", "roots")

    def __init__(
        self,
        roots: Sequence[str | os.PathLike[str]] | None = None,
        *,
        max_bytes: int | None = None,
        max_line_bytes: int | None = None,
        model_roots: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        self.roots: tuple[Path, ...] | None = (
            None if roots is None else tuple(Path(os.path.realpath(Path(r).expanduser())) for r in roots)
        )
        self.max_bytes = max_bytes
        self.max_line_bytes = max_line_bytes
        #: Folders a confined policy loads model folders and ``.gguf`` files from (ignored when local).
        self.model_roots: tuple[Path, ...] = tuple(Path(os.path.realpath(Path(r).expanduser())) for r in model_roots)

    @property
    def confined(self) -> bool:
        """True when only files under ``roots`` may be read."""
        return self.roots is not None

    def __repr__(self) -> str:
        where = "local" if self.roots is None else f"roots={[str(r) for r in self.roots]}"
        return f"FileAccess({where}, max_bytes={self.max_bytes}, max_line_bytes={self.max_line_bytes})"

    # -- checking ------------------------------------------------------------------------------------

    def denied(self, path: str | os.PathLike[str], what: str = "file") -> FileAccessError:
        """The one refusal of a confined policy: the same text for a missing and a forbidden path."""
        return FileAccessError(
            f"{what} {_shown(os.fspath(path))} is not available: this service reads only regular files "
            "under its data roots (AUTOINTERP_DATA_ROOTS)"
        )

    def resolve(self, path: str | os.PathLike[str], what: str = "file") -> Path:
        """The path of the regular file ``path`` names, checked against the policy (real path when
        confined, as given when local); `FileAccessError` otherwise."""
        return self._check(path, what)[0]

    def _check(self, path: str | os.PathLike[str], what: str) -> tuple[Path, os.stat_result]:
        text = os.fspath(path)
        if not isinstance(text, str):
            raise FileAccessError(f"{what} must be a path, got {type(text).__name__}")
        if self.roots is None:
            return self._check_local(text, what)
        return self._check_confined(text, what)

    def _check_local(self, text: str, what: str) -> tuple[Path, os.stat_result]:
        if not text.strip() or "\0" in text:
            raise FileAccessError(f"{what} {_shown(text)} is not a usable path")
        candidate = Path(text).expanduser()
        try:
            info = os.stat(candidate)
        except FileNotFoundError:
            raise FileAccessError(f"{what} not found: {_plain(candidate)}") from None
        except OSError as exc:
            raise FileAccessError(f"{what} {_plain(candidate)} cannot be read: {exc.strerror or exc}") from None
        if stat.S_ISDIR(info.st_mode):
            raise FileAccessError(f"{what} {_plain(candidate)} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise FileAccessError(f"{what} {_plain(candidate)} is not a regular file (a device, FIFO or socket)")
        return candidate, info

    def _check_confined(self, text: str, what: str) -> tuple[Path, os.stat_result]:
        assert self.roots is not None
        if not text.strip() or "\0" in text or len(text) > _MAX_PATH_CHARS:
            raise self.denied(text, what)
        for real in _inside(text, self.roots):
            try:
                info = os.stat(real, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                return real, info
        raise self.denied(text, what)

    # -- models --------------------------------------------------------------------------------------

    def model_path(self, reference: str) -> Path | None:
        """Where a model reference that names local files may be loaded from.

        Local policy: None (the loader resolves the reference itself: any folder or file). Confined:
        the real path of a folder or a ``.gguf`` file found under
        ``model_roots`` (a relative reference is looked up in each root), or None for a reference that
        is not a path at all (a hub id such as ``org/name``; the embedded name is the caller's to
        recognise first). Anything else that looks like a path (absolute, ``..``, ``~``, a ``.gguf``
        name, several levels) is refused with one message, whether or not it exists.
        """
        if self.roots is None:
            return None
        text = reference.strip()
        if not text or "\0" in text or len(text) > _MAX_PATH_CHARS:
            raise self.model_denied(reference)
        for real in _inside(text, self.model_roots):
            if real.is_dir() or (real.is_file() and real.suffix.lower() == ".gguf"):
                return real  # inside the roots the loader's own messages may name what is missing
        if _HUB_ID.fullmatch(text) and ".." not in text and not text.lower().endswith(".gguf"):
            return None
        raise self.model_denied(reference)

    def model_denied(self, reference: str) -> FileAccessError:
        """The one refusal of a model reference outside the model roots (missing or forbidden alike)."""
        return FileAccessError(
            f"model {_shown(reference)} is not available: this service loads the embedded model, hub ids, "
            "and model folders or .gguf files under its model roots (AUTOINTERP_MODEL_ROOTS)"
        )

    # -- reading -------------------------------------------------------------------------------------

    def open(self, path: str | os.PathLike[str], what: str = "file") -> BinaryIO:
        """The file ``path`` names, open for binary reading (a context manager), after the checks of
        the module docstring; reading past ``max_bytes`` raises `FileAccessError`."""
        real, before = self._check(path, what)
        shown = _shown(os.fspath(path))
        flags = _OPEN_FLAGS | (_NOFOLLOW if self.confined else 0)
        try:
            fd = os.open(real, flags)
        except OSError as exc:
            if self.confined:
                raise self.denied(path, what) from None
            raise FileAccessError(f"{what} {_plain(real)} cannot be read: {exc.strerror or exc}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) != (before.st_dev, before.st_ino):
                if self.confined:
                    raise self.denied(path, what)
                raise FileAccessError(f"{what} {_plain(real)} changed while it was opened; try again")
            if self.max_bytes is not None and info.st_size > self.max_bytes:
                raise FileAccessError(
                    f"{what} {shown} is {info.st_size} bytes, over the {self.max_bytes}-byte limit "
                    "(AUTOINTERP_MAX_FILE_BYTES)"
                )
            over = f"{what} {shown} is over the {self.max_bytes}-byte limit (AUTOINTERP_MAX_FILE_BYTES)"
            raw = _CappedRaw(fd, self.max_bytes, over)
        except BaseException:
            os.close(fd)
            raise
        return io.BufferedReader(raw, buffer_size=_CHUNK)

    def lines(self, path: str | os.PathLike[str], what: str = "file") -> Iterator[tuple[int, bytes]]:
        """(1-based line number, the line's bytes with its newline) for every line of the file, read
        one at a time; a line over ``max_line_bytes`` raises `FileAccessError` naming it."""
        limit = self.max_line_bytes
        with self.open(path, what) as handle:
            number = 0
            while True:
                raw = handle.readline(limit + 1) if limit is not None else handle.readline()
                if not raw:
                    return
                number += 1
                if limit is not None and len(raw) > limit and not raw.endswith(b"\n"):
                    raise FileAccessError(
                        f"{what} {_shown(os.fspath(path))} line {number} is longer than {limit} bytes "
                        "(AUTOINTERP_MAX_LINE_BYTES)"
                    )
                yield number, raw

    def digest(self, path: str | os.PathLike[str], what: str = "file") -> str:
        """sha256 hex digest of the file's bytes, read in chunks under the same caps."""
        sha = hashlib.sha256()
        with self.open(path, what) as handle:
            while chunk := handle.read(_CHUNK):
                sha.update(chunk)
        return sha.hexdigest()
