"""Corpora read from local files: plain text (`TextFileCorpus`) and JSON Lines (`JsonlCorpus`).

Both validate eagerly in their constructors (existence, UTF-8, at least one document, well-formed
JSON) so that a bad file is reported before any expensive work starts. Given a `FileAccess`
(``tools.files``; a tool passes its context's), every open goes through it: the file must be one the
policy allows, regular, and within its size cap, checked again at each open; without one (the local
user's own commands, e.g. ``cache build``) any regular file is read.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from store.errors import InputError
from tools.corpus.base import Corpus
from tools.files import FileAccess

_CHUNK = 1 << 20


def check_file(path: Path) -> None:
    """Raise `InputError` unless `path` is an existing, readable regular file."""
    if not path.exists():
        raise InputError(f"corpus file not found: {path}")
    if path.is_dir():
        raise InputError(f"corpus path is a directory, not a file: {path}")
    if not path.is_file():
        raise InputError(f"corpus path is not a regular file: {path}")


def check_utf8(path: Path, opener: Callable[[], IO[bytes]] | None = None) -> str:
    """Decode the whole file as UTF-8 in chunks and return the sha256 hex digest of its bytes.

    ``opener`` opens the file for binary reading (default: ``path.open("rb")``). Raises `InputError`
    naming the file, the first invalid byte, and its byte offset.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    sha = hashlib.sha256()
    offset = 0  # bytes consumed before the current chunk
    try:
        with (opener or (lambda: path.open("rb")))() as f:
            while True:
                chunk = f.read(_CHUNK)
                pending = len(decoder.getstate()[0])  # bytes of an unfinished character
                try:
                    decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    where = "" if chunk else " (incomplete character at end of file)"
                    raise InputError(
                        f"{path} is not UTF-8 text: invalid byte 0x{exc.object[exc.start]:02x} "
                        f"at byte offset {offset - pending + exc.start}{where}"
                    ) from None
                if not chunk:
                    break
                sha.update(chunk)
                offset += len(chunk)
    except OSError as exc:
        raise InputError(f"cannot read corpus file {path}: {exc.strerror or exc}") from None
    if offset == 0:
        raise InputError(f"corpus file is empty: {path}")
    return sha.hexdigest()


def _check(path: Path, files: FileAccess | None) -> None:
    """`check_file`, or the policy's check when there is one."""
    if files is None:
        check_file(path)
    else:
        files.resolve(path, "corpus file")


class _FileBacked:
    """Opening the corpus file, through the access policy when there is one."""

    path: Path
    files: FileAccess | None

    def _open_bytes(self) -> IO[bytes]:
        if self.files is not None:
            return self.files.open(self.path, "corpus file")
        return self.path.open("rb")

    def _open_text(self) -> io.TextIOWrapper:
        return io.TextIOWrapper(self._open_bytes(), encoding="utf-8-sig")


class TextFileCorpus(_FileBacked, Corpus):
    """A UTF-8 text file. Documents are separated by blank lines; a file without any blank line
    has one document per non-empty line. Lines inside a document keep their newlines."""

    def __init__(self, path: str | Path, *, files: FileAccess | None = None) -> None:
        """Validate the file (exists, UTF-8, has a document) and decide how it splits."""
        self.path = Path(path)
        self.spec = str(path)
        self.files = files
        _check(self.path, files)
        self._digest = check_utf8(self.path, self._open_bytes)
        self._paragraphs = self._has_blank_line_between_text()
        if next(self.texts(), None) is None:
            raise InputError(f"corpus file contains no documents (only whitespace): {self.path}")

    def _has_blank_line_between_text(self) -> bool:
        seen_text = False
        blank_after_text = False
        with self._open_text() as f:
            for line in f:
                if line.strip():
                    if blank_after_text:
                        return True
                    seen_text = True
                elif seen_text:
                    blank_after_text = True
        return False

    def texts(self) -> Iterator[str]:
        """Yield the documents (paragraphs, or lines when the file has no blank lines)."""
        with self._open_text() as f:
            if not self._paragraphs:
                for line in f:
                    if line.strip():
                        yield line.rstrip("\n")
                return
            block: list[str] = []
            for line in f:
                if line.strip():
                    block.append(line.rstrip("\n"))
                elif block:
                    yield "\n".join(block)
                    block = []
            if block:
                yield "\n".join(block)

    def digest(self) -> str:
        """sha256 of the file's bytes (as read when the corpus was opened)."""
        return self._digest


class JsonlCorpus(_FileBacked, Corpus):
    """A JSON Lines file: each non-blank line an object whose `field` (default ``"text"``) holds
    a document. A ``.json`` file holding one top-level array of such objects is accepted too.
    Empty strings are skipped. `count` is the number of documents."""

    def __init__(self, path: str | Path, field: str = "text", *, files: FileAccess | None = None) -> None:
        """Validate every record eagerly; errors name the line (or array item) at fault."""
        self.path = Path(path)
        self.field = field
        self.spec = str(path)
        self.files = files
        _check(self.path, files)
        self._digest = check_utf8(self.path, self._open_bytes)
        if field != "text":
            self._digest = hashlib.sha256(f"{self._digest}|field={field}".encode()).hexdigest()
        self._array = self.path.suffix.lower() == ".json" and self._starts_with_bracket()
        self.count = sum(1 for _ in self.texts())  # validates every record
        if self.count == 0:
            raise InputError(f"corpus file contains no documents (no non-empty {field!r} values): {path}")

    def _starts_with_bracket(self) -> bool:
        with self._open_text() as f:
            while chunk := f.read(4096):
                stripped = chunk.lstrip()
                if stripped:
                    return stripped.startswith("[")
        return False

    def _text_of(self, record: Any, where: str) -> str:
        if not isinstance(record, dict):
            raise InputError(f"{self.path}: {where} is not a JSON object")
        if self.field not in record:
            raise InputError(f"{self.path}: {where} has no {self.field!r} field")
        value = record[self.field]
        if not isinstance(value, str):
            raise InputError(f"{self.path}: {where}: field {self.field!r} is not a string")
        return value

    def texts(self) -> Iterator[str]:
        """Yield the non-empty `field` values in file order."""
        if self._array:
            yield from self._array_texts()
            return
        with self._open_text() as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{self.path}: line {number} is not valid JSON ({exc.msg})") from None
                text = self._text_of(record, f"line {number}")
                if text.strip():
                    yield text

    def _array_texts(self) -> Iterator[str]:
        with self._open_text() as f:
            try:
                items = json.load(f)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{self.path}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
                ) from None
        for number, record in enumerate(items, 1):
            text = self._text_of(record, f"array item {number}")
            if text.strip():
                yield text

    def digest(self) -> str:
        """sha256 of the file's bytes (mixed with the field name when it is not ``"text"``)."""
        return self._digest
