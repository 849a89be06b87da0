"""Probes against an engine that dies: readiness and liveness both fail, saying why.

The engine is the simulated one with its health switchable; tests/service/
test_tensorrt_llm_engine.py checks that the TensorRT-LLM engine reports its death.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.engines.base import EngineError, EngineInfo
from service.engines.simulated import SimulatedEngine
from tests.servers import fast_settings, wait_until


class MortalEngine(SimulatedEngine):
    """The simulated engine, plus a switch that kills it as a fatal executor error would."""

    def __init__(self, *, load_error: str | None = None) -> None:
        super().__init__()
        self.death: str | None = None
        self._load_error = load_error

    async def load(self) -> EngineInfo:
        if self._load_error is not None:
            raise EngineError(self._load_error)
        return await super().load()

    def fatal_error(self) -> str | None:
        return self.death


def serve(engine: MortalEngine) -> Iterator[TestClient]:
    app = create_app(fast_settings(), engine)
    with TestClient(app) as client:
        assert wait_until(lambda: app.state.runtime.phase != "loading")
        yield client


@pytest.fixture
def engine() -> MortalEngine:
    return MortalEngine()


@pytest.fixture
def client(engine: MortalEngine) -> Iterator[TestClient]:
    yield from serve(engine)


def test_a_healthy_engine_keeps_the_plain_bodies(client: TestClient) -> None:
    live = client.get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "alive"})
    assert "reason" not in client.get("/health/ready").json()
    assert "reason" not in client.get("/health").json()


def test_an_engine_that_dies_fails_readiness_and_liveness_with_the_reason(
    client: TestClient, engine: MortalEngine
) -> None:
    engine.death = "the executor shut down"
    reason = "engine stopped serving: the executor shut down"

    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "failed", "model": "simulated", "reason": reason}
    live = client.get("/health/live")
    assert live.status_code == 503
    assert live.json() == {"status": "failed", "reason": reason}
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy" and health.json()["reason"] == reason
    # Generation is refused up front instead of failing inside the dead engine.
    assert (
        client.post("/v1/completions", json={"model": "simulated", "prompt": "x"}).status_code
        == 503
    )


def test_death_is_final_even_if_the_engine_later_looks_fine(
    client: TestClient, engine: MortalEngine
) -> None:
    engine.death = "worker exited"
    assert client.get("/health/live").status_code == 503
    engine.death = None
    assert client.get("/health/live").status_code == 503
    assert client.get("/health/ready").json()["status"] == "failed"


def test_an_engine_that_dies_while_draining_fails_liveness(
    client: TestClient, engine: MortalEngine
) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.begin_drain()
    assert client.get("/health/ready").json()["status"] == "draining"
    assert client.get("/health/live").status_code == 200  # draining alone is no reason
    engine.death = "gone"
    assert client.get("/health/live").status_code == 503


def test_a_model_that_fails_to_load_fails_liveness() -> None:
    for client in serve(MortalEngine(load_error="no such checkpoint")):
        live = client.get("/health/live")
        assert live.status_code == 503
        assert live.json()["reason"].startswith("engine failed to load")
        assert client.get("/health/ready").json()["status"] == "failed"
