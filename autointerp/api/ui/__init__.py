"""The web UI: static HTML, vanilla JavaScript modules and CSS in ``static/``, served at ``/ui/`` by
the API itself (no build step, nothing fetched from elsewhere at run time).

The files are a shell without data: anyone may load them, and the page asks for the API key
(kept in the tab's ``sessionStorage``) before it calls the JSON API with ``Authorization: Bearer``.
Every string the models or the agent produced reaches the page through ``textContent`` or
attributes set one by one, never as HTML; a Content-Security-Policy that allows only this origin's
scripts and styles (no inline script) is a second fence. Plots (histograms, highlighted tokens,
patching heatmaps, the audit's shift plot) are SVG drawn in the browser from the JSON results.

| file | what |
|---|---|
| ``static/index.html`` | the shell: header, login form, the page's main element |
| ``static/app.js`` | the router (``#/explanations``, ``#/investigations/ID``, ``#/jobs``, ``#/audits/ID``) |
| ``static/api.js`` | fetch with the key, one-line errors, server-sent events over fetch |
| ``static/dom.js`` | ``h()``: elements from tag, attributes and children (text nodes only) |
| ``static/plots.js`` | SVG: histogram, token highlighting, heatmap, scatter, progress bar |
| ``static/pages/*.js`` | one module per page |
| ``static/style.css`` | the look |
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Where the UI is served.
UI_PATH = "/ui"
#: The UI's files (package data).
STATIC_DIR = Path(__file__).parent / "static"
#: Headers of every UI file: only this origin's scripts, styles and API; no framing.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


class _WithHeaders:
    """An ASGI app that adds `SECURITY_HEADERS` to every response of the app it wraps."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount_ui(app: FastAPI) -> None:
    """Serve ``static/`` at ``/ui/`` and redirect ``/`` there (neither is in the OpenAPI schema)."""
    app.mount(UI_PATH, _WithHeaders(StaticFiles(directory=STATIC_DIR, html=True)), name="ui")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PATH}/")
