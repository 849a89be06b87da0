"""/health/generate: a one-token generation through the engine, rate-limited and shared."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi.testclient import TestClient

from service.app import create_app
from service.engines.base import Engine, EngineError, GenerationChunk, GenerationRequest
from service.generation_check import GenerationCheck
from tests.servers import fast_settings, wait_until
from tests.service.stub_engine import StubEngine


class ScriptedEngine(StubEngine):
    """Generates one token after `delay` seconds, or fails, or never answers."""

    def __init__(self, *, delay: float = 0.0, error: str | None = None) -> None:
        self.delay = delay
        self.error = error
        self.requests: list[GenerationRequest] = []

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        self.requests.append(request)
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise EngineError(self.error)
        yield GenerationChunk("hi", 1, 1, "length")


def client_for(engine: Engine, **settings: object) -> TestClient:
    return TestClient(create_app(fast_settings(**settings), engine))


def test_a_healthy_engine_generates_one_token_and_later_callers_share_it() -> None:
    engine = ScriptedEngine()
    with client_for(engine, health_generate_interval_seconds=60) as client:
        assert wait_until(lambda: client.app.state.runtime.phase == "ready")
        first = client.get("/health/generate")
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "ok" and first.json()["cached"] is False
        second = client.get("/health/generate")
        assert (second.status_code, second.json()["cached"]) == (200, True)
    assert len(engine.requests) == 1  # the rate limit: one generation for both
    assert engine.requests[0].max_tokens == 1


def test_without_an_interval_every_call_generates() -> None:
    engine = ScriptedEngine()
    with client_for(engine, health_generate_interval_seconds=0) as client:
        assert wait_until(lambda: client.app.state.runtime.phase == "ready")
        for _ in range(3):
            assert client.get("/health/generate").status_code == 200
    assert len(engine.requests) == 3


def test_an_engine_that_stops_answering_fails_the_check() -> None:
    engine = ScriptedEngine(delay=30)
    with client_for(engine, health_generate_timeout_seconds=0.2) as client:
        assert wait_until(lambda: client.app.state.runtime.phase == "ready")
        assert client.get("/health/live").status_code == 200  # liveness cannot see it
        response = client.get("/health/generate")
        assert response.status_code == 503
        assert response.json()["reason"] == "no token within 0.2 s"


def test_a_failing_generation_fails_the_check_naming_the_error() -> None:
    engine = ScriptedEngine(error="CUDA error: an illegal memory access")
    with client_for(engine) as client:
        assert wait_until(lambda: client.app.state.runtime.phase == "ready")
        response = client.get("/health/generate")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "failed"
        assert body["reason"] == "generation failed: CUDA error: an illegal memory access"


def test_an_engine_that_is_not_ready_is_not_asked() -> None:
    engine = ScriptedEngine()
    with client_for(engine) as client:
        client.app.state.runtime._phase = "draining"
        response = client.get("/health/generate")
        assert (response.status_code, response.json()["reason"]) == (503, "engine is draining")
    assert engine.requests == []


def test_the_check_needs_no_api_key() -> None:
    with client_for(ScriptedEngine(), api_keys="k-0123456789abcdef") as client:
        assert wait_until(lambda: client.app.state.runtime.phase == "ready")
        assert client.get("/health/generate").status_code == 200


async def test_concurrent_callers_share_one_generation() -> None:
    engine = ScriptedEngine(delay=0.1)
    check = GenerationCheck(engine, interval_seconds=0, timeout_seconds=5)
    results = await asyncio.gather(*(check.result() for _ in range(5)))
    assert check.runs == 1
    assert [shared for _, shared in results].count(False) == 1
    assert all(result.ok for result, _ in results)


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_run() -> None:
    engine = ScriptedEngine(delay=0.1)
    check = GenerationCheck(engine, interval_seconds=60, timeout_seconds=5)
    impatient = asyncio.ensure_future(check.result())
    await asyncio.sleep(0.01)
    impatient.cancel()
    result, shared = await check.result()
    assert result.ok and shared
    assert check.runs == 1
