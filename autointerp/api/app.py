"""The application factory: settings and key in, a FastAPI app out (no module-level app, no globals)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.routing import Route

from autointerp.api.auth import require_key
from autointerp.api.config import load_api_settings, resolve_api_key
from autointerp.api.errors import install_handlers
from autointerp.api.limits import BodyLimit
from autointerp.api.mcp.transports import McpEndpoint
from autointerp.api.routes import chat, explanations, health, investigations, jobs, suites, tools
from autointerp.api.state import ServiceState
from autointerp.api.ui import mount_ui
from store.errors import ConfigError
from store.settings import Settings
from workers.jobs import EXECUTOR_NAMES

DESCRIPTION = """\
Agentic automated interpretability over HTTP: queue label, audit and eval jobs on the workers, run
and read investigations, chat with the agent (server-sent events), search stored explanations,
upload suites and call the tools. Every route but `/health` needs `Authorization: Bearer <AUTOINTERP_API_KEY>`.
The same tools are served to MCP clients at `/mcp` (streamable HTTP, same key), and a web UI at `/ui/`
(its files hold no data; the page asks for the key).
"""


def create_app(
    settings: Settings | None = None,
    *,
    api_key: str | None = None,
    investigation_executor: str | None = None,
    max_body_bytes: int | None = None,
) -> FastAPI:
    """Build the API for the store named by ``settings`` (default: from the environment).

    ``api_key`` defaults to ``AUTOINTERP_API_KEY``; without one, ConfigError (the API never runs open).
    ``investigation_executor`` (``local`` or ``celery``) is where ``POST /investigations`` runs an
    investigation whose request does not say; default ``AUTOINTERP_API_EXECUTOR`` (local).
    ``max_body_bytes`` is the largest request body (413 beyond); default ``AUTOINTERP_API_MAX_BODY_BYTES``.
    """
    key = resolve_api_key(api_key)
    api_settings = load_api_settings()
    executor = investigation_executor or api_settings.api_executor
    if executor not in EXECUTOR_NAMES:
        raise ConfigError(f"unknown investigation executor {executor!r}; expected {' or '.join(EXECUTOR_NAMES)}")
    service = ServiceState(settings=settings or Settings(), api_key=key, investigation_executor=executor)
    mcp = McpEndpoint(service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with mcp.running():
            yield
        service.close()

    app = FastAPI(title="autointerp", description=DESCRIPTION, version="0.1.0", lifespan=lifespan)
    app.state.service = service
    # an uploaded suite may be as large as a suite file the service reads (AUTOINTERP_MAX_FILE_BYTES)
    uploads = {"/suites": (service.settings.max_file_bytes, "AUTOINTERP_MAX_FILE_BYTES")}
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes or api_settings.api_max_body_bytes, overrides=uploads)
    install_handlers(app)
    app.include_router(health.router)
    protected = [Depends(require_key)]
    for module in (jobs, investigations, chat, explanations, suites, tools):
        app.include_router(module.router, dependencies=protected)
    app.router.routes.append(Route("/mcp", mcp, include_in_schema=False))  # MCP over streamable HTTP, same key
    mount_ui(app)
    return app
