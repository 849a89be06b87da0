"""HTTP side of the OpenAI API: parse, call the serving layer, return its response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from service.auth import require_api_key
from service.errors import ERROR_RESPONSES
from service.logs import request_id_var
from service.openai_api.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    CompletionResponse,
    ModelList,
)
from service.openai_api.protocol import ChatCompletionResponse as ChatResponse
from service.openai_api.serving import OpenAIServing
from service.request_scope import run_for_client
from service.streaming import STREAM_RESPONSE

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(require_api_key)])


async def get_serving(request: Request) -> OpenAIServing:
    # async: FastAPI runs plain-def dependencies in a worker thread, per request.
    serving: OpenAIServing = request.app.state.openai_serving
    return serving


Serving = Annotated[OpenAIServing, Depends(get_serving)]


@router.get("/models", response_model=ModelList, responses=ERROR_RESPONSES)
async def list_models(serving: Serving) -> Response:
    return serving.models()


@router.post(
    "/completions",
    response_model=CompletionResponse,
    responses={**ERROR_RESPONSES, **STREAM_RESPONSE},
)
async def create_completion(
    body: CompletionRequest, request: Request, serving: Serving
) -> Response:
    return await run_for_client(request, serving.create_completion(body, request_id_var.get()))


@router.post(
    "/chat/completions",
    response_model=ChatResponse,
    responses={**ERROR_RESPONSES, **STREAM_RESPONSE},
)
async def create_chat_completion(
    body: ChatCompletionRequest, request: Request, serving: Serving
) -> Response:
    return await run_for_client(request, serving.create_chat_completion(body, request_id_var.get()))
