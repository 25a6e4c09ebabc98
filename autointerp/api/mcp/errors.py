"""Failures of an MCP tool call as one line, the same line the HTTP API answers with.

An ``HTTPException`` from a route function is its ``detail``; a pydantic ``ValidationError`` of the
arguments is ``describe_validation``'s ``where: what; where: what`` (as a 422's ``detail``); one of
our errors (``store.errors``) is its first line; anything else is a bug, reported by its type only
(never a traceback) and logged in full on the server.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException
from pydantic import ValidationError

from autointerp.api.errors import describe_validation
from store.errors import AutointerpError

log = logging.getLogger("autointerp.mcp")


def one_line(exc: BaseException, *, where: str = "arguments") -> str:
    """The message an MCP client sees for ``exc`` (see the module docstring)."""
    if isinstance(exc, HTTPException):
        text = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    elif isinstance(exc, ValidationError):
        errors = [{**e, "loc": (where, *e["loc"])} for e in exc.errors(include_url=False)]
        text = describe_validation(errors)
    elif isinstance(exc, AutointerpError):
        text = str(exc)
    else:
        log.error("MCP tool call failed unexpectedly", exc_info=exc)
        text = f"internal error: {type(exc).__name__} (the server's log has the details)"
    return (text.strip().splitlines() or ["failed"])[0]
