"""Read FIND-style suite files (DESIGN §3): JSON Lines, one subject per line, addressed as ``PATH#ID``.

``load_suite_function("suites/sample.jsonl#num-parabola")`` reads the file line by line and returns the
first object whose ``id`` matches; ``read_suite(path)`` reads them all (and rejects duplicate ids). Every
problem is an ``InputError`` naming the file, and the line where there is one.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from store.errors import InputError

__all__ = ["KINDS", "SuiteFunction", "load_suite_function", "parse_address", "read_suite"]

SuiteKind = Literal["numeric", "string", "entity", "model_unit"]
KINDS: tuple[str, ...] = ("numeric", "string", "entity", "model_unit")
"""The subject kinds of DESIGN §3; ``numeric`` and ``string`` carry Python ``code`` defining ``f``."""

_CODE_KINDS = ("numeric", "string")
_SHOWN_IDS = 8


class SuiteFunction(BaseModel):
    """One line of a suite file: a function (or unit) with its ground-truth description.

    ``code`` is the Python source defining ``f`` for ``numeric`` and ``string`` subjects, else None;
    ``raw`` is the whole JSON object as read (``domain``, ``tests``, ``concept``, ``unit_tests``, tags ...).
    """

    id: str
    kind: SuiteKind
    code: str | None = None
    description: str
    raw: dict[str, Any]
    path: str = Field(description="The suite file it was read from, as given in the address.")
    line: int = Field(description="1-based line of the suite file.")

    @property
    def address(self) -> str:
        """``PATH#ID``, the address this function is loaded by."""
        return f"{self.path}#{self.id}"


def parse_address(address: str) -> tuple[Path, str]:
    """Split ``PATH#ID`` at its last ``#`` into the suite file's path and the function id."""
    if not isinstance(address, str) or "#" not in address:
        raise InputError(
            f"a suite function address is PATH#ID (e.g. suites/sample.jsonl#num-parabola), got {address!r}"
        )
    path, _, function_id = address.rpartition("#")
    if not path.strip():
        raise InputError(f"suite function address {address!r} has no file before '#'")
    if not function_id.strip():
        raise InputError(f"suite function address {address!r} has no id after '#'")
    return Path(path), function_id


def load_suite_function(address: str) -> SuiteFunction:
    """The function ``ID`` of suite file ``PATH``, for an address ``PATH#ID`` (DESIGN §2).

    Lines before the match are checked (a malformed one is an error); the rest of the file is not read.
    """
    path, function_id = parse_address(address)
    seen: list[str] = []
    for line_no, obj in _objects(path):
        current = _id(obj, path, line_no)
        if current == function_id:
            return _function(obj, path, line_no)
        seen.append(current)
    raise InputError(_not_found(function_id, path, seen))


def read_suite(path: str | Path) -> list[SuiteFunction]:
    """Every subject of a suite file, in file order; duplicate ids are an error."""
    path = Path(path)
    functions: list[SuiteFunction] = []
    first_line: dict[str, int] = {}
    for line_no, obj in _objects(path):
        function = _function(obj, path, line_no)
        if function.id in first_line:
            raise InputError(
                f"suite file {path} line {line_no} repeats id {function.id!r} (first on line {first_line[function.id]})"
            )
        first_line[function.id] = line_no
        functions.append(function)
    return functions


def _objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) for each non-blank line of the suite file."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"suite file {path} not found") from None
    except IsADirectoryError:
        raise InputError(f"suite file {path} is a directory, not a JSON Lines file") from None
    except OSError as exc:
        raise InputError(f"suite file {path} cannot be read: {exc.strerror or exc}") from None
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError:
                raise InputError(f"suite file {path} line {line_no} is not UTF-8") from None
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"suite file {path} line {line_no} is not JSON ({exc.msg} at column {exc.colno})"
                ) from None
            except RecursionError:
                raise InputError(f"suite file {path} line {line_no} is nested too deeply to read") from None
            if not isinstance(obj, dict):
                raise InputError(f"suite file {path} line {line_no} is a JSON {type(obj).__name__}, not an object")
            yield line_no, obj


def _id(obj: dict[str, Any], path: Path, line_no: int) -> str:
    """The object's ``id`` (a non-empty string; a number is accepted and turned into one)."""
    value = obj.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and not value.strip()):
        raise InputError(f"suite file {path} line {line_no} has no usable 'id' (got {value!r})")
    return str(value)


def _function(obj: dict[str, Any], path: Path, line_no: int) -> SuiteFunction:
    """Validate one suite object into a ``SuiteFunction``."""
    where = f"suite file {path} line {line_no}"
    function_id = _id(obj, path, line_no)
    kind = obj.get("kind")
    if kind not in KINDS:
        raise InputError(f"{where} (id {function_id!r}) has kind {kind!r}; expected one of {', '.join(KINDS)}")
    code = obj.get("code")
    if kind in _CODE_KINDS:
        if not isinstance(code, str) or not code.strip():
            raise InputError(f"{where} (id {function_id!r}) is a {kind} function without 'code' (Python defining f)")
    elif code is not None and not isinstance(code, str):
        raise InputError(f"{where} (id {function_id!r}) has a 'code' that is not a string")
    description = obj.get("description")
    if not isinstance(description, str):
        raise InputError(f"{where} (id {function_id!r}) has no 'description' string (the ground truth in words)")
    return SuiteFunction(
        id=function_id,
        kind=kind,
        code=code if isinstance(code, str) else None,
        description=description,
        raw=obj,
        path=str(path),
        line=line_no,
    )


def _not_found(function_id: str, path: Path, seen: list[str]) -> str:
    """'no function with id 'x' in F; did you mean 'y'? ids start: a, b, c…'."""
    if not seen:
        return f"no function with id {function_id!r} in {path}: the file has no subjects"
    message = f"no function with id {function_id!r} in {path}"
    close = difflib.get_close_matches(function_id, seen, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    shown = ", ".join(seen[:_SHOWN_IDS])
    more = f"… ({len(seen)} in all)" if len(seen) > _SHOWN_IDS else ""
    return f"{message}; ids start: {shown}{more}"
