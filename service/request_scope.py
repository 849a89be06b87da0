"""Per-request plumbing shared by every API: request ids, access log, HTTP metrics,
the last-resort error handler, and running a handler only while its client is there."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from fastapi import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import STATUS_CLIENT_CLOSED, error_body
from service.logs import request_id_var
from service.metrics import ServerMetrics
from service.streaming import ClientDisconnected, unless_disconnected

access_logger = logging.getLogger("service.access")
logger = logging.getLogger("service.errors")

# A client-supplied id is echoed into logs and headers: accept only a safe shape.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Far above any prompt a model accepts (a 128k-token prompt is well under 1 MiB), low
# enough that one request cannot make the server buffer gigabytes. Checked against
# Content-Length, which every HTTP client library sends for a JSON body.
MAX_REQUEST_BODY_BYTES = 16 * 1024 * 1024
# Probes and scrapes every few seconds would drown the access log at INFO.
_QUIET_PREFIXES = ("/health", "/metrics")


async def run_for_client(request: Request, work: Coroutine[Any, Any, Response]) -> Response:
    """Run a generation handler; if the client leaves, cancel it (aborting the engine
    request) and answer 499 to nobody, for the logs and metrics."""
    try:
        return await unless_disconnected(request.receive, work, request.app.state.runtime.cut_off)
    except ClientDisconnected:
        return Response(status_code=STATUS_CLIENT_CLOSED)


class RequestScopeMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it wraps every request, so it must be cheap
    and must not buffer streaming responses."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming_id, body_size = _read_headers(scope)
        request_id = incoming_id or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            if body_size is not None and body_size > MAX_REQUEST_BODY_BYTES:
                message = f"request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"
                body = error_body(413, message, "request_too_large")
                await JSONResponse(body, status_code=413)(scope, receive, send_with_id)
                return
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Whatever went wrong, the client gets no internals, only the id to report.
            logger.exception("unhandled error")
            if status == 0:
                status = 500
                body = error_body(
                    500, f"internal error (request id {request_id})", "internal_error"
                )
                await JSONResponse(body, status_code=500)(scope, receive, send_with_id)
        finally:
            self._observe(scope, status, time.perf_counter() - started)
            request_id_var.reset(token)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.metrics.http_requests.labels(template, str(status)).inc()
        path = scope["path"]
        level = logging.DEBUG if path.startswith(_QUIET_PREFIXES) else logging.INFO
        if access_logger.isEnabledFor(level):
            client = scope.get("client")
            access_logger.log(
                level,
                '%s "%s %s" %d %.1fms',
                f"{client[0]}:{client[1]}" if client else "-",
                scope["method"],
                path,
                status,
                seconds * 1000,
                extra={
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )


def _read_headers(scope: Scope) -> tuple[str | None, int | None]:
    """The client's request id (if it has a safe shape) and Content-Length, in one pass."""
    request_id: str | None = None
    length: int | None = None
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            request_id = candidate if _REQUEST_ID.fullmatch(candidate) else None
        elif name == b"content-length" and value.isdigit():
            length = int(value)
    return request_id, length
