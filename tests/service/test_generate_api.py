"""The seed guide's /generate, kept compatible; and the health endpoints' bodies."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.engines.simulated import count_tokens
from tests.service.sse import sse_json


def test_generate_returns_the_seed_fields(client: TestClient) -> None:
    response = client.post("/generate", json={"prompt": "Hello, how are you?", "max_tokens": 8})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"text", "tokens_used", "latency_ms"}
    assert body["tokens_used"] == 8 == count_tokens(body["text"])
    assert body["latency_ms"] >= 0


def test_generate_uses_the_request_defaults_of_the_settings(client: TestClient) -> None:
    settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
    body = client.post("/generate", json={"prompt": "x"}).json()
    assert body["tokens_used"] == settings.max_tokens


def test_generate_streams_deltas_then_done(client: TestClient) -> None:
    response = client.post(
        "/generate", json={"prompt": "x", "max_tokens": 5, "temperature": 0, "stream": True}
    )
    events = sse_json(response.text)
    # Tokens ready together travel in one event: the running count only grows.
    used = [e["tokens_used"] for e in events]
    assert used == sorted(set(used)) and used[-1] == 5
    assert events[-1]["finish_reason"] == "length"
    assert events[-1]["latency_ms"] is not None
    whole = client.post("/generate", json={"prompt": "x", "max_tokens": 5, "temperature": 0})
    assert "".join(e["text"] for e in events) == whole.json()["text"]


def test_health_bodies(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "alive"}
    assert client.get("/health/ready").json() == {"status": "ready", "model": "simulated"}
    assert client.get("/health").json() == {
        "status": "healthy",
        "model_loaded": True,
        "phase": "ready",
    }
