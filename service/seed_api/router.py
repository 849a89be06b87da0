"""HTTP side of /generate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from service.auth import require_api_key
from service.errors import ERROR_RESPONSES
from service.logs import request_id_var
from service.request_scope import run_for_client
from service.seed_api.protocol import GenerateRequest, GenerateResponse
from service.seed_api.serving import GenerateServing
from service.streaming import STREAM_RESPONSE

router = APIRouter(tags=["seed"], dependencies=[Depends(require_api_key)])


async def get_serving(request: Request) -> GenerateServing:
    serving: GenerateServing = request.app.state.generate_serving
    return serving


Serving = Annotated[GenerateServing, Depends(get_serving)]


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses={**ERROR_RESPONSES, **STREAM_RESPONSE},
)
async def generate(body: GenerateRequest, request: Request, serving: Serving) -> Response:
    return await run_for_client(request, serving.generate(body, request_id_var.get()))
