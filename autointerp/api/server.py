"""Run the API with uvicorn (``autointerp serve``)."""

from __future__ import annotations

from store.settings import Settings


def serve(host: str, port: int, settings: Settings | None = None, *, log_level: str = "info") -> None:
    """Serve the API on ``host:port`` until interrupted; ConfigError first when AUTOINTERP_API_KEY is missing."""
    import uvicorn

    from autointerp.api.app import create_app

    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=True)
