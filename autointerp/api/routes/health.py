"""``GET /health``: liveness and whether the store answers (no authentication)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Depends

from autointerp.api.schemas import Health
from autointerp.api.state import ServiceState, get_service
from store.engine import check_connection
from store.errors import AutointerpError

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return version("autointerp")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


@router.get("/health", response_model=Health)
def health(service: ServiceState = Depends(get_service)) -> Health:
    """Liveness: always 200; ``status`` is ``degraded`` (with the reason) when the store does not answer."""
    try:
        check_connection(service.engine())
    except AutointerpError as exc:
        return Health(status="degraded", store=str(exc), version=_version())
    return Health(status="ok", store="ok", version=_version())
