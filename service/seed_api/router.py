"""HTTP side of /generate."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.errors import ERROR_RESPONSES
from service.logs import request_id_var
from service.request_scope import JsonBodyRoute, respond
from service.seed_api.protocol import GenerateRequest, GenerateResponse
from service.seed_api.serving import GenerateServing
from service.streaming import STREAM_RESPONSE

router = APIRouter(tags=["seed"], route_class=JsonBodyRoute)


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses={**ERROR_RESPONSES, **STREAM_RESPONSE},
)
async def generate(body: GenerateRequest, request: Request) -> Response:
    serving: GenerateServing = request.app.state.generate_serving
    return await respond(request, serving.generate(body, request_id_var.get()))
