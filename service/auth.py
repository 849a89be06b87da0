"""Bearer-key authentication: every route but the probes and metrics, when API_KEYS is set.

Checked by a middleware from the request headers alone, before the body is read, so
a client without a key costs a header parse, never a buffered upload. The API docs
and schema (/docs, /redoc, /openapi.json) are behind the key too: they describe
what the keys protect.
"""

from __future__ import annotations

import hmac

from fastapi.security import HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import APIError, error_response

# What the OpenAPI schema shows for the generation routes; the middleware checks.
bearer_scheme = HTTPBearer(auto_error=False, description="One of the keys in API_KEYS.")

# Kubernetes probes and Prometheus scrapes carry no key.
OPEN_PATHS = frozenset({"/health", "/health/live", "/health/ready", "/health/generate", "/metrics"})

_UNAUTHORIZED = APIError(
    401,
    "missing or invalid API key (send Authorization: Bearer <key>)",
    code="invalid_api_key",
    headers={"WWW-Authenticate": "Bearer"},
)


def key_matches(candidate: str, keys: tuple[str, ...]) -> bool:
    """Constant-time in the key's content, and every key is compared, so neither the
    timing nor the position of a match tells an attacker anything."""
    given = candidate.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    return matched


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: tuple[str, ...]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            token = _bearer_token(scope)
            if token is None or not key_matches(token, self.keys):
                await error_response(_UNAUTHORIZED)(scope, receive, send)
                return
        await self.app(scope, receive, send)
