"""Bearer-key authentication: a dependency every protected router carries."""

from __future__ import annotations

import secrets

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

#: The security scheme (shows the "Authorize" button in /docs); errors are raised by `require_key`.
bearer_scheme = HTTPBearer(auto_error=False, description="The value of AUTOINTERP_API_KEY.")


def require_key(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> None:
    """Refuse the request with 401 unless it carries ``Authorization: Bearer <the API key>``."""
    expected: str = request.app.state.service.api_key
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing bearer token: send 'Authorization: Bearer <AUTOINTERP_API_KEY>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="invalid API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
