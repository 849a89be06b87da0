"""Per-request plumbing shared by every API: request ids, access log, HTTP metrics,
the last-resort error handler, and running serving only while its client is there,
turning what it returns into the HTTP response."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import STATUS_CLIENT_CLOSED, APIError, error_body
from service.json_budget import check_json_budget
from service.logs import request_id_var
from service.metrics import ServerMetrics
from service.streaming import (
    ClientDisconnected,
    EventStream,
    EventStreamResponse,
    unless_disconnected,
)

access_logger = logging.getLogger("service.access")
logger = logging.getLogger("service.errors")

# A client-supplied id is echoed into logs and headers: accept only a safe shape.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Far above any prompt a model accepts (a 128k-token prompt is well under 1 MiB), low
# enough that one request cannot make the server buffer gigabytes. Checked against
# Content-Length, which every HTTP client library sends for a JSON body.
MAX_REQUEST_BODY_BYTES = 16 * 1024 * 1024
# Bodies still arriving, all together: room for a few of the largest at once, and a
# bound on what stalled uploads can hold.
MAX_ARRIVING_BODY_BYTES = 4 * MAX_REQUEST_BODY_BYTES
# Probes and scrapes every few seconds would drown the access log at INFO.
_QUIET_PREFIXES = ("/health", "/metrics")


def json_response(body: BaseModel) -> Response:
    # Serialised by pydantic-core in one call: the hot path of non-streamed requests.
    return Response(body.model_dump_json(), media_type="application/json")


async def respond(request: Request, work: Coroutine[Any, Any, BaseModel | EventStream]) -> Response:
    """Run a serving call and answer what it returns: a protocol model as JSON, an
    EventStream as server-sent events. If the client leaves first, cancel the call
    (aborting the engine request) and answer 499 to nobody, for the logs and metrics."""
    cut_off = request.app.state.runtime.cut_off
    try:
        result = await unless_disconnected(request.receive, work, cut_off)
    except ClientDisconnected:
        return Response(status_code=STATUS_CLIENT_CLOSED)
    if isinstance(result, EventStream):
        return EventStreamResponse(result, cut_off)
    return json_response(result)


class JsonBodyRoute(APIRoute):
    """An APIRoute that validates a JSON body straight from its bytes.

    FastAPI's own handler parses the JSON into Python objects, resolves the
    endpoint's parameters as dependencies and then validates; for a fast engine that
    is a large share of a request. A route whose endpoint takes only `(body: Model,
    request: Request)` and no dependencies instead has pydantic-core validate the
    bytes in one call. JSON that parses but does not validate gets pydantic's errors
    as FastAPI would report them; bytes that are not JSON (another encoding, a form
    body) go to FastAPI's handler, so those errors are FastAPI's own. The schema is
    FastAPI's too: nothing else changes.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        dependant = self.dependant
        # Security schemes that only document a header the middleware checks (an
        # HTTPBearer without auto_error never refuses) need not run.
        plain = not (
            any(not _documents_only(d.call) for d in dependant.dependencies)
            or dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or self._embed_body_fields
        )
        model = dependant.body_params[0].field_info.annotation if dependant.body_params else None
        if (
            plain
            and len(dependant.body_params) == 1
            and isinstance(model, type)
            and issubclass(model, BaseModel)
            and dependant.request_param_name is not None
        ):
            self._model: type[BaseModel] = model
            self._body_name = dependant.body_params[0].name
            self._request_name = dependant.request_param_name
            self._fastapi_app = self.app
            self.app = self._handle

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            raw = await request.body()
        except Exception as error:
            # As FastAPI answers a body that cannot be read (a client gone mid-body).
            raise HTTPException(400, "There was an error parsing the body") from error
        check_json_budget(raw)
        media_type = _media_type(scope)
        if raw and media_type is not None and not _is_json(media_type):
            # FastAPI would try to read it as a dict and say only that it is not one.
            raise APIError(
                400,
                f"Content-Type {media_type!r} is not JSON: send the body as application/json",
                code="invalid_content_type",
            )
        body: BaseModel | None = None
        if raw and _content_type(scope) in _JSON_TYPES:
            try:
                body = self._model.model_validate_json(raw)
            except ValidationError as error:
                # pydantic's errors are final (FastAPI would only parse the body again,
                # slowly for a huge hostile one) unless the body is JSON in another
                # encoding than UTF-8, which only FastAPI's json.loads reads.
                if _is_unicode_error(error) and _invalid_utf8(raw):
                    # Bytes that are not UTF-8 in a key the model must read to refuse
                    # it: name the encoding, as for bytes that break the JSON syntax.
                    raise self._syntax_error(raw, error) from None
                if not _is_json_syntax_error(error):
                    raise RequestValidationError(_in_body(error)) from None
                if json.detect_encoding(raw) == "utf-8":
                    raise self._syntax_error(raw, error) from None
        if body is None:
            await self._fastapi_app(scope, _replay(raw, receive), send)
            return
        response: Response = await self.endpoint(
            **{self._body_name: body, self._request_name: request}
        )
        await response(scope, receive, send)

    def _syntax_error(self, raw: bytes, error: ValidationError) -> Exception:
        """The error for UTF-8 that pydantic-core cannot parse. Text no engine can
        encode (a lone surrogate escape, bytes that are not UTF-8) is named by its
        field: Python's json reads those, keeping each bad byte as a lone surrogate
        (surrogateescape), which the models' text fields refuse by name."""
        invalid_utf8 = _invalid_utf8(raw)
        if invalid_utf8 or b"\\u" in raw:
            try:
                self._model.model_validate(json.loads(raw.decode("utf-8", "surrogateescape")))
            except ValidationError as named:
                # Only a text field's own Unicode error says where the bad bytes are
                # (an unknown key made of them is not the problem to report).
                unicode_errors = [e for e in named.errors() if "Unicode" in str(e["msg"])]
                if unicode_errors:
                    return RequestValidationError(
                        [{**e, "loc": ("body", *e["loc"])} for e in unicode_errors]
                    )
            except ValueError:
                pass
        if invalid_utf8:
            return APIError(400, "request body is not valid UTF-8", code="invalid_json")
        return RequestValidationError(_in_body(error))


def _documents_only(call: object) -> bool:
    return isinstance(call, SecurityBase) and not getattr(call, "auto_error", True)


def _is_unicode_error(error: ValidationError) -> bool:
    return any(item["type"] == "string_unicode" for item in error.errors())


def _is_json_syntax_error(error: ValidationError) -> bool:
    return any(item["type"] == "json_invalid" for item in error.errors())


def _in_body(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            **item,
            "loc": ("body", *item["loc"]),
            "msg": item["msg"].removeprefix("Invalid JSON: "),
        }
        for item in error.errors()
    ]


def _invalid_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# Content types FastAPI parses as JSON (no header at all included); others take its path.
_JSON_TYPES = (None, b"application/json")


def _media_type(scope: Scope) -> str | None:
    """The Content-Type's media type (no parameters), or None when there is none."""
    header = _content_type(scope)
    if header is None:
        return None
    return header.split(b";", 1)[0].strip().decode("latin-1")


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _content_type(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.lower()
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that yields the already-read body once, then the real one."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class RequestScopeMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it wraps every request, so it must be cheap
    and must not buffer streaming responses."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # Labelled children by (route template, status): labels() takes a lock and
        # builds a key on every call. Bounded by routes x status codes.
        self._requests_counted: dict[tuple[str, int], Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming_id = _request_id(scope)
        # 32 hex digits, as uuid4().hex gave, at a third of the cost.
        request_id = incoming_id or secrets.token_hex(16)
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
        counted = self._requests_counted.get((template, status))
        if counted is None:
            counted = self.metrics.http_requests.labels(template, str(status))
            self._requests_counted[(template, status)] = counted
        counted.inc()
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


_BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


async def _read_capped(receive: Receive) -> bytes | None:
    """The whole request body, or None as soon as it passes MAX_REQUEST_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client left mid-body: the app sees what came
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REQUEST_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _request_id(scope: Scope) -> str | None:
    """The client's request id, if it has a safe shape."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID.fullmatch(candidate) else None
    return None


class BodyLimitMiddleware:
    """Bounds request bodies: each to MAX_REQUEST_BODY_BYTES (413), and all of those
    still arriving to MAX_ARRIVING_BODY_BYTES together (429), so clients that stall
    uploads hold a bounded amount of memory however many connections they open.

    Inside the authentication middleware, so an unauthenticated client never gets
    its body read at all.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Announced bytes of the bodies not yet fully received.
        self._arriving = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _BODYLESS_METHODS:
            await self.app(scope, receive, send)
            return
        body_size = _content_length(scope)
        if body_size is None or body_size > MAX_REQUEST_BODY_BYTES:
            # Too large, or chunked (no length to check up front): read here, capped.
            raw = await _read_capped(receive) if body_size is None else None
            if raw is None:
                await _refuse(
                    413,
                    f"request body is larger than {MAX_REQUEST_BODY_BYTES} bytes",
                    "request_too_large",
                    scope,
                    receive,
                    send,
                )
                return
            await self.app(scope, _replay(raw, receive), send)
            return
        if self._arriving + body_size > MAX_ARRIVING_BODY_BYTES:
            message = "the server is receiving too many request bodies; retry later"
            await _refuse(429, message, "too_many_uploads", scope, receive, send)
            return
        self._arriving += body_size
        reserved = body_size

        async def receive_counted() -> Message:
            nonlocal reserved
            message = await receive()
            if reserved and not message.get("more_body", False):
                self._arriving -= reserved
                reserved = 0
            return message

        try:
            await self.app(scope, receive_counted, send)
        finally:
            self._arriving -= reserved


async def _refuse(
    status: int, message: str, code: str, scope: Scope, receive: Receive, send: Send
) -> None:
    headers = {"Retry-After": "1"} if status == 429 else None
    response = JSONResponse(error_body(status, message, code), status_code=status, headers=headers)
    await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None
