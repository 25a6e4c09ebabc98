"""Non-finite floats in JSON: ``NaN``, ``Infinity`` and ``-Infinity`` travel as those three strings.

JSON has no NaN or infinities. Python's ``json`` writes the non-standard tokens ``NaN``/``Infinity``
(which PostgreSQL's JSONB, JavaScript's ``JSON.parse`` and most clients refuse), and pydantic writes
``null`` by default (the value is lost). Everything this project writes as JSON — a tool's result
(``tools.executor.ToolResult.result``, the result cache), the stored experiment, the HTTP API's
responses and the CLI's ``--json`` output — therefore writes a non-finite float as the **string**
``"NaN"``, ``"Infinity"`` or ``"-Infinity"``, wherever it sits (a float field, a list of floats, a
function's ``output``). Finite floats, ints, and every other value are unchanged.

Reading back: a field typed ``float`` in a pydantic model accepts those strings and gives the float
again; ``float("NaN")``, ``float("Infinity")`` and ``float("-Infinity")`` do too, and `decode_float`
does it for a value of any type (a number, one of the three strings, or anything else: None). Where a
value may legitimately be a string (a string function's ``output``), the string ``"NaN"`` and the
float NaN look the same; readers that know a value is a number (the numeric policy reading a numeric
function's outputs) decode it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

__all__ = ["NAN", "NEG_INF", "NONFINITE", "POS_INF", "decode_float", "dumps", "encode_nonfinite", "jsonable"]

NAN = "NaN"
POS_INF = "Infinity"
NEG_INF = "-Infinity"
#: The three strings and the floats they stand for.
NONFINITE: dict[str, float] = {NAN: math.nan, POS_INF: math.inf, NEG_INF: -math.inf}


def _encode_float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return NAN
    return POS_INF if value > 0 else NEG_INF


def encode_nonfinite(value: Any) -> Any:
    """``value`` (JSON-able: dicts, lists, tuples, scalars) with every non-finite float replaced by its
    string; a value without one is returned as is (no copy)."""
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, dict):
        items = {k: encode_nonfinite(v) for k, v in value.items()}
        return value if all(items[k] is value[k] for k in value) else items
    if isinstance(value, list | tuple):
        encoded = [encode_nonfinite(v) for v in value]
        return value if all(a is b for a, b in zip(encoded, value, strict=True)) else encoded
    return value


def jsonable(value: Any) -> Any:
    """A pydantic model (or any value) as plain JSON data with non-finite floats encoded.

    Unlike ``model_dump(mode="json")``, which turns NaN in an ``Any`` field into ``None`` (pydantic's
    default ``ser_json_inf_nan="null"``), every float is kept and then encoded.
    """
    data = value.model_dump(mode="python") if isinstance(value, BaseModel) else value
    return encode_nonfinite(to_jsonable_python(data))


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of `jsonable` (``value``): strict JSON, never a ``NaN`` token."""
    kwargs.setdefault("ensure_ascii", False)
    return json.dumps(jsonable(value), allow_nan=False, **kwargs)


def decode_float(value: Any) -> float | None:
    """A number (not a bool) or one of the three strings as a float; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an int beyond the float range
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        return NONFINITE.get(value)
    return None
