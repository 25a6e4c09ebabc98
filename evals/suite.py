"""FIND-style suites (DESIGN §3): one subject per JSON line, validated with a message naming the line
and the field at fault. A bad line is reported and skipped; the other lines still load.

A suite is a file (read through a `FileAccess` policy, ``tools.files``) or an uploaded suite in the
store, ``suite:NAME`` (``store.suites``); ``load_suite(ref, files=…, store=…)`` reads either, line by
line. The built-in suites ship in ``evals/data/`` (`BUILTIN_SUITES`); with ``<home>/suites`` they are
the default data roots of the service (`data_roots`, `service_files`: the confined policy the API,
the jobs it submits and the workers read files under).

Common fields: ``id`` (unique), ``kind``, ``description`` (the ground truth in words); optional
``unit_tests``: ``[{"options": [3 inputs], "answer": index}]``. Other fields (``family``,
``complication``, tags) are kept as metadata for the report.

=============  ===========================================================================
kind           fields
=============  ===========================================================================
numeric        ``code`` (defines ``f(x: float) -> float``), ``domain`` ([lo, hi], default
               [-128, 128])
string         ``code`` (defines ``f(x: str) -> str``), optional ``tests`` (inputs)
entity         ``concept``, optional ``members`` (words)
model_unit     ``model`` (name or folder), ``unit`` (address), optional ``positives`` /
               ``negatives`` (texts)
=============  ===========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from store.errors import InputError
from store.settings import Settings
from tools.files import FileAccess
from tools.functions.suite import StoreOpener, suite_lines

#: The suites shipped with the package (``sample.jsonl``, ``heldout_strings.jsonl``): a default data root.
BUILTIN_SUITES = Path(__file__).resolve().parent / "data"


def data_roots(settings: Settings) -> list[Path]:
    """The folders the service reads suite, pairs and corpus files from: ``AUTOINTERP_DATA_ROOTS``,
    or by default the built-in suites and ``<home>/suites``."""
    if settings.data_roots is not None:
        return [Path(p).expanduser() for p in settings.data_roots]
    return [BUILTIN_SUITES, settings.home.expanduser() / "suites"]


def model_roots(settings: Settings) -> list[Path]:
    """The folders the service loads local models from: ``AUTOINTERP_MODEL_ROOTS``, or by default
    ``<home>/models`` and the data roots."""
    if settings.model_roots is not None:
        return [Path(p).expanduser() for p in settings.model_roots]
    return [settings.home.expanduser() / "models", *data_roots(settings)]


def service_files(settings: Settings, extra_model_roots: Iterable[Path] = ()) -> FileAccess:
    """The file policy of the API, the jobs it submits and the workers: files confined to
    `data_roots` with the settings' file-size and line-length caps, local models to `model_roots`
    (plus ``extra_model_roots``, e.g. the checkpoint watcher's folder on a worker)."""
    return FileAccess(
        data_roots(settings),
        max_bytes=settings.max_file_bytes,
        max_line_bytes=settings.max_line_bytes,
        model_roots=[*model_roots(settings), *extra_model_roots],
    )


class UnitTest(BaseModel):
    """A 3-way forced choice: which option is the function most selective for (or correct on)."""

    options: list[Any] = Field(min_length=3, max_length=3)
    answer: int = Field(ge=0, le=2)


class _Item(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    description: str = Field(min_length=1)
    unit_tests: list[UnitTest] = Field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        """The extra fields (family, complication, tags...)."""
        return dict(self.model_extra or {})


class _CodeItem(_Item):
    code: str = Field(min_length=1)

    @field_validator("code")
    @classmethod
    def _defines_f(cls, code: str) -> str:
        try:
            compile(code, "<suite code>", "exec")
        except SyntaxError as exc:
            raise ValueError(f"does not compile: {exc.msg} (line {exc.lineno})") from None
        if "def f(" not in code and "def f (" not in code:
            raise ValueError("does not define f(x)")
        return code


class NumericItem(_CodeItem):
    """A numeric function f(x: float) -> float."""

    kind: Literal["numeric"]
    domain: tuple[float, float] = (-128.0, 128.0)


class StringItem(_CodeItem):
    """A string function f(x: str) -> str."""

    kind: Literal["string"]
    tests: list[str] | None = None


class EntityItem(_Item):
    """A synthetic neuron that responds to a concept."""

    kind: Literal["entity"]
    concept: str = Field(min_length=1)
    members: list[str] = Field(default_factory=list)


class ModelUnitItem(_Item):
    """A unit inside a real model (planted or not)."""

    kind: Literal["model_unit"]
    model: str = Field(min_length=1)
    unit: str = Field(min_length=1)
    positives: list[str] = Field(default_factory=list)
    negatives: list[str] = Field(default_factory=list)


SuiteItem = Annotated[NumericItem | StringItem | EntityItem | ModelUnitItem, Field(discriminator="kind")]
KINDS = ("numeric", "string", "entity", "model_unit")
_ITEM = TypeAdapter(SuiteItem)


class SuiteError(BaseModel):
    """A line that could not be loaded, and why (the field at fault when known)."""

    line: int
    id: str | None = None
    field: str | None = None
    message: str


class Suite(BaseModel):
    """A loaded suite: its items (in file order) and the lines that failed."""

    path: str
    items: list[NumericItem | StringItem | EntityItem | ModelUnitItem]
    errors: list[SuiteError] = Field(default_factory=list)

    def by_id(self, item_id: str) -> NumericItem | StringItem | EntityItem | ModelUnitItem:
        """The item with this id; InputError otherwise."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise InputError(f"no item with id {item_id!r} in {self.path}")


def parse_line(
    text: str, line: int
) -> tuple[NumericItem | StringItem | EntityItem | ModelUnitItem | None, SuiteError | None]:
    """One suite line as an item, or the error naming the line and field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, SuiteError(line=line, message=f"line {line} is not JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(data, dict):
        return None, SuiteError(line=line, message=f"line {line} is a JSON {type(data).__name__}, not an object")
    item_id = data.get("id") if isinstance(data.get("id"), str) else None
    kind = data.get("kind")
    if kind not in KINDS:
        return None, SuiteError(
            line=line, id=item_id, field="kind", message=f"line {line}: kind {kind!r} is not one of {', '.join(KINDS)}"
        )
    try:
        return _ITEM.validate_python(data), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p != kind)
        message = f"line {line}" + (f" (id {item_id!r})" if item_id else "") + f": field {where!r}: {first['msg']}"
        return None, SuiteError(line=line, id=item_id, field=where, message=message)


def load_suite(path: str | Path, *, files: FileAccess | None = None, store: StoreOpener | None = None) -> Suite:
    """Read a suite, a file (through ``files``; default local) or ``suite:NAME`` (from ``store()``);
    bad lines (and duplicate ids) become ``errors``, the rest load.

    Raises InputError only when the suite itself cannot be read (a `FileAccessError` when the policy
    refuses the file, or when it is over the size cap or has an overlong line).
    """
    reference = str(path)
    return parse_suite_lines(suite_lines(reference, files=files, store=store), reference)


def parse_suite_lines(lines: Iterable[tuple[int, str | None]], source: str) -> Suite:
    """A suite from numbered lines (``None`` for a line that is not UTF-8): items and errors."""
    items: list[NumericItem | StringItem | EntityItem | ModelUnitItem] = []
    errors: list[SuiteError] = []
    seen: dict[str, int] = {}
    for number, raw in lines:
        if raw is None:
            errors.append(SuiteError(line=number, message=f"line {number} is not UTF-8"))
            continue
        if not raw.strip():
            continue
        item, error = parse_line(raw, number)
        if error is not None:
            errors.append(error)
            continue
        assert item is not None
        if item.id in seen:
            errors.append(
                SuiteError(
                    line=number,
                    id=item.id,
                    field="id",
                    message=f"line {number}: id {item.id!r} already used on line {seen[item.id]}",
                )
            )
            continue
        seen[item.id] = number
        items.append(item)
    return Suite(path=source, items=items, errors=errors)


def write_suite(items: list[Any], path: str | Path) -> Path:
    """Write items (models or dicts) as JSON lines; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for item in items:
            data = item.model_dump(mode="json", exclude_none=True) if isinstance(item, BaseModel) else item
            handle.write(json.dumps(data, ensure_ascii=False) + "\n")
    return out
