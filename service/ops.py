"""Probes and metrics: always open (no API key), never queued behind generation.

/health/live   the process and its event loop answer (liveness: restart if not).
/health/ready  the engine is loaded and we are not draining (readiness: route traffic).
/health        the seed guide's body, with readiness's status code.
/metrics       Prometheus text exposition.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.responses import Response

from service.metrics import CONTENT_TYPE
from service.runtime import Phase, Runtime

router = APIRouter(tags=["operations"])


class LiveResponse(BaseModel):
    status: Literal["alive"] = "alive"


class ReadyResponse(BaseModel):
    status: Phase
    model: str | None = None


class SeedHealthResponse(BaseModel):
    status: Literal["healthy", "unhealthy"]
    model_loaded: bool
    phase: Phase


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _ready_status(runtime: Runtime) -> int:
    return 200 if runtime.phase == "ready" else 503


@router.get("/health/live", response_model=LiveResponse)
async def live() -> LiveResponse:
    return LiveResponse()


@router.get(
    "/health/ready",
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "Loading, draining or failed."}},
)
async def ready(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    body = ReadyResponse(status=runtime.phase, model=runtime.model_name if runtime.info else None)
    return JSONResponse(body.model_dump(), status_code=_ready_status(runtime))


@router.get(
    "/health",
    response_model=SeedHealthResponse,
    responses={503: {"model": SeedHealthResponse, "description": "Not ready."}},
)
async def health(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    status = _ready_status(runtime)
    body = SeedHealthResponse(
        status="healthy" if status == 200 else "unhealthy",
        model_loaded=runtime.info is not None,
        phase=runtime.phase,
    )
    return JSONResponse(body.model_dump(), status_code=status)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    return Response(_runtime(request).metrics.render(), media_type=CONTENT_TYPE)
