"""Read FIND-style suites (DESIGN §3): JSON Lines, one subject per line, addressed as ``REF#ID``.

``REF`` is a suite file's path, or ``suite:<name>`` (``suite:<id>``) for a suite uploaded through the
API and kept in the store (``store.suites``). Files are read only through a `FileAccess` policy
(``tools.files``: local for the CLI, confined to the data roots for the API and the workers),
streaming and capped; the store through ``store``, a callable that opens it (``ToolContext.engine``),
called only when a stored suite is asked for.

``load_suite_function("suites/sample.jsonl#num-parabola", files=…, store=…)`` reads line by line and
returns the first object whose ``id`` matches; the rest of the file is not read. A line that cannot
be read (not UTF-8, not JSON, not an object, no usable id) is skipped, so one malformed line never
hides the functions after it; when the id is not found, the first such line is named (it may be the
one meant). ``read_suite(ref)`` reads them all and fails on the first bad line or repeated id;
``suite_lines`` yields the raw lines of either kind of suite (``evals.suite`` reads them the same way).
Every problem is an ``InputError`` naming the suite, and the line where there is one.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine

from store.errors import InputError
from store.suites import get_stored_suite, stored_ref
from tools.files import FileAccess

__all__ = [
    "KINDS",
    "StoreOpener",
    "SuiteFunction",
    "load_suite_function",
    "parse_address",
    "read_suite",
    "suite_digest",
    "suite_label",
    "suite_lines",
]

SuiteKind = Literal["numeric", "string", "entity", "model_unit"]
KINDS: tuple[str, ...] = ("numeric", "string", "entity", "model_unit")
"""The subject kinds of DESIGN §3; ``numeric`` and ``string`` carry Python ``code`` defining ``f``."""

#: Opens the store (``ToolContext.engine``); called only for ``suite:`` references.
StoreOpener = Callable[[], Engine]

_CODE_KINDS = ("numeric", "string")
_SHOWN_IDS = 8
_SHOWN_REF_CHARS = 200


class SuiteFunction(BaseModel):
    """One line of a suite: a function (or unit) with its ground-truth description.

    ``code`` is the Python source defining ``f`` for ``numeric`` and ``string`` subjects, else None;
    ``raw`` is the whole JSON object as read (``domain``, ``tests``, ``concept``, ``unit_tests``, tags ...).
    """

    id: str
    kind: SuiteKind
    code: str | None = None
    description: str
    raw: dict[str, Any]
    path: str = Field(description="The suite it was read from, as given in the address (a path or suite:NAME).")
    line: int = Field(description="1-based line of the suite.")

    @property
    def address(self) -> str:
        """``REF#ID``, the address this function is loaded by."""
        return f"{self.path}#{self.id}"


def parse_address(address: str) -> tuple[str, str]:
    """Split ``REF#ID`` at its last ``#`` into the suite reference (a path or ``suite:NAME``) and the id."""
    if not isinstance(address, str) or "#" not in address:
        raise InputError(
            f"a suite function address is PATH#ID or suite:NAME#ID (e.g. sample.jsonl#num-parabola), got "
            f"{_shown(address) if isinstance(address, str) else repr(address)}"
        )
    ref, _, function_id = address.rpartition("#")
    if not ref.strip():
        raise InputError(f"suite function address {_shown(address)} has no suite before '#'")
    if not function_id.strip():
        raise InputError(f"suite function address {_shown(address)} has no id after '#'")
    return ref, function_id


def _shown(text: str) -> str:
    """A reference for a message: as given when short and printable, else quoted and cut (one line)."""
    if text.isprintable() and len(text) <= _SHOWN_REF_CHARS:
        return text
    return repr(text[:_SHOWN_REF_CHARS])


def suite_label(ref: str) -> str:
    """How messages name a suite: ``suite file PATH`` or ``uploaded suite suite:NAME``."""
    return f"uploaded suite {_shown(ref)}" if stored_ref(ref) is not None else f"suite file {_shown(ref)}"


def suite_lines(
    ref: str | os.PathLike[str], *, files: FileAccess | None = None, store: StoreOpener | None = None
) -> Iterator[tuple[int, str | None]]:
    """(1-based line number, its text, or None when it is not UTF-8) for every line of a suite.

    A file is read through ``files`` (default: local access), one line at a time; a stored suite
    (``suite:NAME``) comes from ``store()``. `InputError` (a `FileAccessError` for a file the policy
    refuses) when the suite cannot be read at all.
    """
    reference = os.fspath(ref)
    name = stored_ref(reference)
    if name is not None:
        if store is None:
            raise InputError(f"{suite_label(reference)} is in the store, which this caller cannot reach")
        row = get_stored_suite(store(), name)
        for number, text in enumerate(row.content.split("\n"), start=1):
            yield number, text.removesuffix("\r")
        return
    access = files if files is not None else FileAccess()
    for number, raw in access.lines(reference, "suite file"):
        try:
            yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            yield number, None


def suite_digest(ref: str, *, files: FileAccess | None = None, store: StoreOpener | None = None) -> str:
    """sha256 of a suite's content (a stored suite's recorded digest; a file's bytes, read capped)."""
    name = stored_ref(ref)
    if name is not None:
        if store is None:
            raise InputError(f"{suite_label(ref)} is in the store, which this caller cannot reach")
        return get_stored_suite(store(), name).digest
    return (files if files is not None else FileAccess()).digest(ref, "suite file")


def load_suite_function(
    address: str, *, files: FileAccess | None = None, store: StoreOpener | None = None
) -> SuiteFunction:
    """The function ``ID`` of the suite ``REF``, for an address ``REF#ID`` (DESIGN §2).

    ``files`` is the file-access policy (default: local, the CLI's); ``store`` opens the store for
    ``suite:NAME`` references. Lines that cannot be read are skipped (see the module docstring); the
    matching line is validated, and the rest of the suite is not read.
    """
    ref, function_id = parse_address(address)
    label = suite_label(ref)
    seen: list[str] = []
    skipped: list[str] = []
    for line_no, text in suite_lines(ref, files=files, store=store):
        if text is None:
            skipped.append(f"{label} line {line_no} is not UTF-8")
            continue
        if not text.strip():
            continue
        obj, problem = _object(text, label, line_no)
        if obj is None:
            skipped.append(problem)
            continue
        current = _usable_id(obj)
        if current is None:
            skipped.append(f"{label} line {line_no} has no usable 'id' (got {obj.get('id')!r})")
            continue
        if current == function_id:
            return _function(obj, ref, line_no)
        seen.append(current)
    raise InputError(_not_found(function_id, ref, seen, skipped))


def read_suite(
    ref: str | os.PathLike[str], *, files: FileAccess | None = None, store: StoreOpener | None = None
) -> list[SuiteFunction]:
    """Every subject of a suite, in order; a line that cannot be read or a repeated id is an error."""
    reference = os.fspath(ref)
    label = suite_label(reference)
    functions: list[SuiteFunction] = []
    first_line: dict[str, int] = {}
    for line_no, text in suite_lines(reference, files=files, store=store):
        if text is None:
            raise InputError(f"{label} line {line_no} is not UTF-8")
        if not text.strip():
            continue
        obj, problem = _object(text, label, line_no)
        if obj is None:
            raise InputError(problem)
        function = _function(obj, reference, line_no)
        if function.id in first_line:
            raise InputError(
                f"{label} line {line_no} repeats id {function.id!r} (first on line {first_line[function.id]})"
            )
        first_line[function.id] = line_no
        functions.append(function)
    return functions


def _object(text: str, label: str, line_no: int) -> tuple[dict[str, Any] | None, str]:
    """The line's JSON object, or None and the message saying why it is not one."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{label} line {line_no} is not JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, f"{label} line {line_no} is nested too deeply to read"
    if not isinstance(obj, dict):
        return None, f"{label} line {line_no} is a JSON {type(obj).__name__}, not an object"
    return obj, ""


def _usable_id(obj: dict[str, Any]) -> str | None:
    """The object's ``id`` (a non-empty string; a number is accepted and turned into one), or None."""
    value = obj.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and not value.strip()):
        return None
    return str(value)


def _id(obj: dict[str, Any], label: str, line_no: int) -> str:
    """`_usable_id`, or InputError naming the line."""
    value = _usable_id(obj)
    if value is None:
        raise InputError(f"{label} line {line_no} has no usable 'id' (got {obj.get('id')!r})")
    return value


def _function(obj: dict[str, Any], ref: str, line_no: int) -> SuiteFunction:
    """Validate one suite object into a ``SuiteFunction``."""
    label = suite_label(ref)
    where = f"{label} line {line_no}"
    function_id = _id(obj, label, line_no)
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
        path=ref,
        line=line_no,
    )


def _not_found(function_id: str, ref: str, seen: list[str], skipped: list[str]) -> str:
    """'no function with id 'x' in F; did you mean 'y'? ids start: a, b, c…', or, when some lines
    could not be read, the first of them (the id may be on it)."""
    if skipped:
        others = f" ({len(skipped)} unreadable lines in all)" if len(skipped) > 1 else ""
        return f"{skipped[0]}; no readable line has id {function_id!r}{others}"
    if not seen:
        return f"no function with id {function_id!r} in {_shown(ref)}: the suite has no subjects"
    message = f"no function with id {function_id!r} in {_shown(ref)}"
    close = difflib.get_close_matches(function_id, seen, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    shown = ", ".join(seen[:_SHOWN_IDS])
    more = f"… ({len(seen)} in all)" if len(seen) > _SHOWN_IDS else ""
    return f"{message}; ids start: {shown}{more}"
