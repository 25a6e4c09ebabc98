"""Package data files behind one typed loader: word lists, concept tables, corpus templates.

Data lives in files, not in Python literals: each package keeps its tables in a ``data/`` folder
beside its modules (``tools/corpus/builtin/data/``, ``agent/builtin/data/``, ``evals/generators/data/``), as
JSON (``.json``) or plain text (``.txt``: one item a line; blank lines and lines starting with
``#`` are skipped). ``load_data(package, name, schema)`` reads one file and validates it against
a type (a pydantic model, or any type pydantic's ``TypeAdapter`` understands, such as
``dict[str, list[str]]``), so a malformed edit fails with the file and the field at fault instead
of surfacing later as a wrong word in a generated sentence. Results are cached per
(package, name, schema): the files are read-only package data.

    VERBS = load_data("tools.corpus.builtin", "verbs.json", dict[str, list[tuple[str, str, str]]])
    SURNAMES = load_lines("tools.corpus.builtin", "surnames.txt")

A module that reads a package's data files declares them in ``DATA_FILES`` (file name -> schema),
with ``PACKAGE`` naming the package; ``tests/test_datafiles.py`` validates every declared file and
flags files of a ``data/`` folder that no module declares (``data_files`` lists a folder).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Hashable
from importlib import resources
from typing import Any, TypeVar, cast, overload

from pydantic import TypeAdapter, ValidationError

from store.errors import ConfigError

T = TypeVar("T")

DATA_FOLDER = "data"


def data_text(package: str, name: str) -> str:
    """The text of ``<package>/data/<name>``; ConfigError naming the file when it is missing."""
    try:
        return resources.files(package).joinpath(DATA_FOLDER, name).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError, UnicodeDecodeError) as exc:
        raise ConfigError(f"package data file {package}/{DATA_FOLDER}/{name} cannot be read: {exc}") from None


class _DuplicateKeyError(ValueError):
    """A JSON object repeats a key (``json`` would silently keep the last value)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


@functools.cache
def _load(package: str, name: str, schema: Any) -> Any:
    text = data_text(package, name)
    where = f"{package}/{DATA_FOLDER}/{name}"
    if name.endswith(".json"):
        try:
            raw: Any = json.loads(text, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        except _DuplicateKeyError as exc:
            raise ConfigError(f"{where}: key {exc.args[0]!r} appears twice in one object") from None
    elif name.endswith(".txt"):
        raw = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    else:
        raise ConfigError(f"{where}: data files are .json or .txt")
    try:
        return TypeAdapter(schema).validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()[:5])
        raise ConfigError(f"{where} does not match its schema: {problems}") from None


@overload
def load_data(package: str, name: str, schema: type[T]) -> T: ...


@overload
def load_data(package: str, name: str, schema: Any) -> Any: ...


def load_data(package: str, name: str, schema: Any) -> Any:
    """``<package>/data/<name>`` parsed (JSON, or text as a list of lines) and validated as ``schema``.

    The result has the schema's type (a model instance, a ``dict[str, list[str]]`` ...); a schema
    mypy cannot see as a class (``Annotated[...]``, a union) gives ``Any``.
    """
    key = cast(Hashable, schema)  # pydantic models and typing aliases such as dict[str, list[str]] are hashable
    return _load(package, name, key)


def load_lines(package: str, name: str) -> tuple[str, ...]:
    """The non-blank, non-comment lines of a ``.txt`` data file, stripped."""
    lines: tuple[str, ...] = load_data(package, name, tuple[str, ...])
    return lines


def data_files(package: str) -> tuple[str, ...]:
    """The names of the ``.json`` and ``.txt`` files in ``<package>/data/``, sorted (empty if none)."""
    try:
        folder = resources.files(package).joinpath(DATA_FOLDER)
        if not folder.is_dir():
            return ()
        return tuple(sorted(p.name for p in folder.iterdir() if p.name.endswith((".json", ".txt"))))
    except ModuleNotFoundError:
        raise ConfigError(f"no package {package!r} to read data files from") from None
