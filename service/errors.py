"""One error shape for every failure, OpenAI's: {"error": {"message", "type", "param", "code"}}.

`APIError` is what serving code raises; `to_api_error` is the one mapping from what
else a request can raise (a full queue, an engine's refusal or failure) to status
and code; the handlers below turn errors into that shape. Messages never carry
exception text from inside the server: only what the code chose to say.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.admission import RETRY_AFTER_SECONDS, QueueFullError
from service.engines.base import EngineError, InvalidRequestError, PromptTooLongError

logger = logging.getLogger("service.errors")

# Status code -> OpenAI error `type`.
_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    499: "client_closed_request",
    503: "service_unavailable",
}
# Not an HTTPStatus member: nginx's "client closed request", logged and counted only.
STATUS_CLIENT_CLOSED = 499


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = dict(headers or {})


def to_api_error(error: BaseException, *, prompt_param: str = "prompt") -> APIError:
    """The API error for whatever a generation raised, before or after its first byte.

    `prompt_param` names the field a too-long prompt came from (`messages` for chat).
    Engine messages are safe to show by contract; anything else is logged and hidden.
    """
    if isinstance(error, APIError):
        return error
    if isinstance(error, QueueFullError):
        return APIError(
            429,
            "too many requests in flight; retry later",
            code="queue_full",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(error, PromptTooLongError):
        return APIError(400, str(error), code="context_length_exceeded", param=prompt_param)
    if isinstance(error, InvalidRequestError):
        return APIError(400, str(error), code="invalid_request")
    if isinstance(error, EngineError):
        logger.warning("engine failed a request: %s", error)
        return APIError(500, f"engine error: {error}", code="engine_error")
    logger.error("generation failed", exc_info=error)
    return APIError(500, "internal error", code="internal_error")


def error_body(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> dict:
    detail = ErrorDetail(
        message=message,
        type=_ERROR_TYPES.get(status, "server_error"),
        param=param,
        code=code,
    )
    return ErrorResponse(error=detail).model_dump()


def error_response(error: APIError) -> JSONResponse:
    return JSONResponse(
        error_body(error.status, error.message, error.code, error.param),
        status_code=error.status,
        headers=error.headers,
    )


# Pydantic names the member of a union it tried (`str`, `list[str]`) in the location;
# clients know only their own field names.
_UNION_MEMBER_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})


def _union_member(part: object) -> bool:
    return isinstance(part, str) and (part in _UNION_MEMBER_TAGS or "[" in part)


def _field_path(loc: Sequence[Any]) -> str:
    """("body", "messages", 0, "content", "str") -> "messages[0].content"."""
    path = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        if _union_member(part):
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _top_level(path: str) -> str:
    return path.split(".")[0].split("[")[0]


def _most_telling(errors: Sequence[Any]) -> Any:
    """The first error, or, when a union field failed every member, the member error
    that says more than "should be a valid string" (a list too long, a wrong part)."""
    first = errors[0]
    if not any(_union_member(part) for part in first.get("loc", ())):
        return first
    field = _top_level(_field_path(first.get("loc", ())))
    for error in errors:
        same_field = _top_level(_field_path(error.get("loc", ()))) == field
        if same_field and not str(error.get("type", "")).endswith("_type"):
            return error
    return first


def validation_error(exc: RequestValidationError) -> APIError:
    """Name the first bad field, as OpenAI does; 400 because that is what clients expect."""
    first = _most_telling(exc.errors())
    field = _field_path(first.get("loc", ()))
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if first.get("type") == "json_invalid":
        return APIError(400, f"request body is not valid JSON: {message}", code="invalid_json")
    if not field:
        return APIError(400, f"request body: {message}", code="invalid_request")
    if first.get("type") == "extra_forbidden":
        # OpenAI's own wording for a field its API does not define.
        return APIError(
            400,
            f"Unrecognized request argument supplied: {field}",
            code="unknown_parameter",
            param=_top_level(field),
        )
    return APIError(400, f"{field}: {message}", code="invalid_value", param=_top_level(field))


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, APIError)
        return error_response(exc)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(validation_error(exc))

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        try:
            message = HTTPStatus(exc.status_code).phrase
        except ValueError:
            message = "error"
        return error_response(APIError(exc.status_code, message, headers=exc.headers))

    app.add_exception_handler(APIError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


# OpenAPI `responses=` for routes that generate text (the schema documents each error).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid request; the message names the field."},
    401: {"model": ErrorResponse, "description": "Missing or wrong API key."},
    404: {"model": ErrorResponse, "description": "Unknown model."},
    413: {"model": ErrorResponse, "description": "Request body too large."},
    429: {"model": ErrorResponse, "description": "Queue full; retry after Retry-After seconds."},
    503: {"model": ErrorResponse, "description": "Model loading or server draining."},
    # Declaring a 4XX range stops FastAPI adding its own 422 schema, which we never send.
    "4XX": {"model": ErrorResponse, "description": "Other client error."},
}
