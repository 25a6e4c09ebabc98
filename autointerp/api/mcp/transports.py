"""Where the MCP server is reached: stdio (``autointerp mcp``, for a desktop client that starts it)
and streamable HTTP at ``/mcp`` inside the API (same process, same service state, same key).

Over HTTP, `McpEndpoint` checks ``Authorization: Bearer <AUTOINTERP_API_KEY>`` like every route
(401 with the same one-line ``detail`` otherwise) before the SDK's session manager sees the request;
the manager runs inside the API's lifespan (`McpEndpoint.running`). Over stdio there is no key: the
client that starts the process is its user.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from autointerp.api.auth import key_refusal
from autointerp.api.mcp.server import build_server
from autointerp.api.state import ServiceState
from store.settings import Settings


class McpEndpoint:
    """The ASGI app served at ``/mcp``: the bearer key check, then the SDK's streamable HTTP transport."""

    def __init__(self, service: ServiceState) -> None:
        self.service = service
        self.manager = StreamableHTTPSessionManager(app=build_server(service))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the session manager (enter it once, in the API's lifespan)."""
        async with self.manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request to ``/mcp``."""
        scheme, _, token = (Headers(scope=scope).get("authorization") or "").partition(" ")
        refusal = key_refusal(scheme or None, token.strip() or None, self.service.api_key)
        if refusal is not None:
            response = JSONResponse({"detail": refusal}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)


def run_stdio(settings: Settings) -> None:
    """Serve MCP on this process's stdin and stdout until the client closes them."""
    service = ServiceState(settings=settings, api_key="")  # no key over stdio: the caller started us

    async def serve() -> None:
        server = build_server(service)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    try:
        anyio.run(serve)
    finally:
        service.close()
