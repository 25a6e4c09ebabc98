"""Errors as HTTP answers: bad input → 4xx with the one-line message, never a 500 with a traceback.

=====================================  ======
``RequestValidationError`` (body)      422, ``detail`` = "body.units: ...; body.layer: ..."
(path, query: ids and offsets above    422, ``detail`` = "path.job_id: ...", "query.q: must not
2**31 - 1, NUL characters, lengths)    contain NUL characters (\\x00)"
a body over the limit                  413 (``autointerp.api.limits``, ``AUTOINTERP_API_MAX_BODY_BYTES``)
``InputError``, ``AddressError``,      400
``ModelLoadError``, ``ToolError``,
``ConfigError``, ``CacheError``
``ConstraintError``                    409
``StoreError`` (database unreachable)  503
=====================================  ======
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from store.errors import AutointerpError, ConstraintError, StoreError


def describe_validation(errors: Sequence[Any]) -> str:
    """pydantic/FastAPI validation errors as one readable line: ``where: what; where: what``."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "__root__") or "(request)"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "invalid request"


def status_for(exc: AutointerpError) -> int:
    """The HTTP status for one of our errors (see the module docstring)."""
    if isinstance(exc, ConstraintError):
        return 409
    if isinstance(exc, StoreError):
        return 503
    return 400


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    return JSONResponse(
        status_code=422,
        content={"detail": describe_validation(errors), "errors": _jsonable(errors)},
    )


async def _ours(request: Request, exc: AutointerpError) -> JSONResponse:
    return JSONResponse(status_code=status_for(exc), content={"detail": str(exc).splitlines()[0] if str(exc) else ""})


def _jsonable(errors: list[Any]) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))} for e in errors
    ]


def install_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(AutointerpError, _ours)  # type: ignore[arg-type]
