"""Bearer-key authentication for the generation APIs (health and metrics stay open)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.errors import APIError
from service.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="One of the keys in API_KEYS.")


def key_matches(candidate: str, keys: tuple[str, ...]) -> bool:
    """Constant-time in the key's content, and every key is compared, so neither the
    timing nor the position of a match tells an attacker anything."""
    given = candidate.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    return matched


async def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    runtime: Runtime = request.app.state.runtime
    keys = runtime.settings.api_key_list
    if not keys:
        return
    if credentials is None or not key_matches(credentials.credentials, keys):
        raise APIError(
            401,
            "missing or invalid API key (send Authorization: Bearer <key>)",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
