"""The request body limit: an ASGI middleware that refuses a body over ``max_bytes`` with a 413.

It never reads more than the limit (plus one network chunk) of a body:

* a request whose ``Content-Length`` exceeds the limit is answered 413 at once, before the route runs
  or a byte of the body is read (the server then drops the connection);
* a body without a length (``Transfer-Encoding: chunked``), or one that sends more than it announced,
  is counted as the route reads it; the chunk that passes the limit ends the request with a 413.

The answer is JSON with one line, like every other error of the API::

    413 {"detail":"request body too large: 52428800 bytes; the limit is 4194304 bytes (AUTOINTERP_API_MAX_BODY_BYTES)"}
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SETTING = "AUTOINTERP_API_MAX_BODY_BYTES"


def too_large(size: int | None, limit: int, setting: str = SETTING) -> str:
    """The one-line reason of a 413 (``size``: the announced ``Content-Length``, None when streamed)."""
    if size is None:
        return f"request body too large: over the limit of {limit} bytes ({setting})"
    return f"request body too large: {size} bytes; the limit is {limit} bytes ({setting})"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (a 413 wherever it is caught)."""

    def __init__(self, limit: int, setting: str = SETTING) -> None:
        super().__init__(status_code=413, detail=too_large(None, limit, setting))


class BodyLimit:
    """ASGI middleware: HTTP request bodies of at most ``max_bytes`` bytes (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int, overrides: Mapping[str, tuple[int, str]] | None = None) -> None:
        """``overrides``: path (exact match, e.g. an upload route) → its own (limit, setting name)."""
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = dict(overrides or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.overrides.get(scope.get("path", ""), (self.max_bytes, SETTING))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(send, too_large(declared, limit, setting))
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge as exc:  # raised outside a route's own error handling
            if started:
                raise
            await _answer(send, str(exc.detail))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
