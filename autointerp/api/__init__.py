"""The HTTP API (FastAPI): jobs, investigations, chat, explanations, suites and tools over the same store.

``create_app`` builds the application; ``autointerp serve`` runs it with uvicorn. Every route but
``/health`` needs ``Authorization: Bearer <AUTOINTERP_API_KEY>``; the OpenAPI schema is served at
``/openapi.json`` and the interactive docs at ``/docs`` (their "Authorize" button takes the key).
"""

from __future__ import annotations

from autointerp.api.app import create_app

__all__ = ["create_app"]
