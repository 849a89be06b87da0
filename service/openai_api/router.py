"""HTTP side of the OpenAI API: parse, call the serving layer, return its response."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.errors import ERROR_RESPONSES
from service.logs import request_id_var
from service.openai_api.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionRequest,
    CompletionResponse,
    ModelList,
)
from service.openai_api.serving import OpenAIServing
from service.request_scope import JsonBodyRoute, json_response, respond
from service.streaming import STREAM_RESPONSE

router = APIRouter(prefix="/v1", tags=["openai"], route_class=JsonBodyRoute)


def _serving(request: Request) -> OpenAIServing:
    # Read from app state rather than through a FastAPI dependency: dependency
    # resolution is a measurable share of a fast request.
    serving: OpenAIServing = request.app.state.openai_serving
    return serving


@router.get("/models", response_model=ModelList, responses=ERROR_RESPONSES)
async def list_models(request: Request) -> Response:
    return json_response(_serving(request).models())


@router.post(
    "/completions",
    response_model=CompletionResponse,
    responses={**ERROR_RESPONSES, **STREAM_RESPONSE},
)
async def create_completion(body: CompletionRequest, request: Request) -> Response:
    return await respond(request, _serving(request).create_completion(body, request_id_var.get()))


@router.post(
    "/chat/completions",
    response_model=ChatCompletionResponse,
    responses={**ERROR_RESPONSES, **STREAM_RESPONSE},
)
async def create_chat_completion(body: ChatCompletionRequest, request: Request) -> Response:
    work = _serving(request).create_chat_completion(body, request_id_var.get())
    return await respond(request, work)
