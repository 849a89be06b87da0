"""Probes and metrics: always open (no API key), never queued behind generation.

/health/live   the process answers and its engine has not failed (liveness: restart if
               not). Loading and draining are live; a model that failed to load or an
               engine that died after loading is not, since only a restart helps.
/health/ready  the engine is loaded and we are not draining (readiness: route traffic).
/health/generate  a one-token generation through the engine (deep check for a probe or
               an alert), run at most once per HEALTH_GENERATE_INTERVAL_SECONDS.
/health        the seed guide's body, with readiness's status code.
/metrics       Prometheus text exposition.

A failed probe's body says why in `reason`; healthy bodies have no `reason`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.responses import Response

from service.metrics import CONTENT_TYPE
from service.runtime import Phase, Runtime

router = APIRouter(tags=["operations"])

_Route = Callable[[Request], Awaitable[JSONResponse]]


class LiveResponse(BaseModel):
    status: Literal["alive", "failed"] = "alive"
    reason: str | None = None


class ReadyResponse(BaseModel):
    status: Phase
    model: str | None = None
    reason: str | None = None


class GenerateCheckResponse(BaseModel):
    status: Literal["ok", "failed"]
    reason: str | None = None
    # Seconds the checked generation took; absent when none ran (engine not ready).
    latency_seconds: float | None = None
    # True when this answer reuses a recent check instead of running a new one.
    cached: bool = False


class SeedHealthResponse(BaseModel):
    status: Literal["healthy", "unhealthy"]
    model_loaded: bool
    phase: Phase
    reason: str | None = None


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _ready_status(phase: Phase) -> int:
    return 200 if phase == "ready" else 503


def _probe(path: str, body: type[BaseModel], failing: str) -> Callable[[_Route], _Route]:
    """A probe route: `body` when healthy (200) and, saying why, when not (503)."""
    return router.get(
        path, response_model=body, responses={503: {"model": body, "description": failing}}
    )


def _probe_response(body: BaseModel, status_code: int) -> JSONResponse:
    content = body.model_dump()
    if content.get("reason") is None:
        content.pop("reason", None)
    return JSONResponse(content, status_code=status_code)


@_probe("/health/live", LiveResponse, "Model or engine failed.")
async def live(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    if runtime.phase == "failed":
        return _probe_response(LiveResponse(status="failed", reason=runtime.failure), 503)
    return _probe_response(LiveResponse(), 200)


@_probe("/health/ready", ReadyResponse, "Loading, draining or failed.")
async def ready(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    phase = runtime.phase
    body = ReadyResponse(
        status=phase,
        model=runtime.model_name if runtime.info else None,
        reason=runtime.failure,
    )
    return _probe_response(body, _ready_status(phase))


@_probe("/health/generate", GenerateCheckResponse, "No token generated.")
async def generate_check(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    phase = runtime.phase
    if phase != "ready":
        reason = runtime.failure or f"engine is {phase}"
        return _probe_response(GenerateCheckResponse(status="failed", reason=reason), 503)
    result, cached = await runtime.generation_check.result()
    body = GenerateCheckResponse(
        status="ok" if result.ok else "failed",
        reason=result.reason,
        latency_seconds=round(result.latency_seconds, 6),
        cached=cached,
    )
    return _probe_response(body, 200 if result.ok else 503)


@_probe("/health", SeedHealthResponse, "Not ready.")
async def health(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    phase = runtime.phase
    status = _ready_status(phase)
    body = SeedHealthResponse(
        status="healthy" if status == 200 else "unhealthy",
        model_loaded=runtime.info is not None,
        phase=phase,
        reason=runtime.failure,
    )
    return _probe_response(body, status)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    return Response(_runtime(request).metrics.render(), media_type=CONTENT_TYPE)
