"""Bearer-key authentication: a dependency every protected router carries."""

from __future__ import annotations

import secrets

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

#: The security scheme (shows the "Authorize" button in /docs); errors are raised by `require_key`.
bearer_scheme = HTTPBearer(auto_error=False, description="The value of AUTOINTERP_API_KEY.")


#: Why a request without a bearer token is refused.
MISSING_TOKEN = "missing bearer token: send 'Authorization: Bearer <AUTOINTERP_API_KEY>'"
#: Why a request with another key is refused.
INVALID_KEY = "invalid API key"


def key_refusal(scheme: str | None, token: str | None, expected: str) -> str | None:
    """Why a request whose ``Authorization`` header is ``<scheme> <token>`` is refused, or None when it
    carries the key (compared in constant time). Shared by `require_key` and the ASGI apps mounted
    beside the routes (``/mcp``)."""
    if scheme is None or token is None or scheme.lower() != "bearer":
        return MISSING_TOKEN
    if not secrets.compare_digest(token.encode(), expected.encode()):
        return INVALID_KEY
    return None


def require_key(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> None:
    """Refuse the request with 401 unless it carries ``Authorization: Bearer <the API key>``."""
    expected: str = request.app.state.service.api_key
    refusal = key_refusal(
        credentials.scheme if credentials else None, credentials.credentials if credentials else None, expected
    )
    if refusal is not None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED, detail=refusal, headers={"WWW-Authenticate": "Bearer"}
        )
