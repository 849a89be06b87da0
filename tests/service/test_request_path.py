"""The per-request fast paths keep FastAPI's behaviour: JSON bodies validated straight
from bytes (FastAPI's own path for anything else), and the disconnect watcher that
starts only once the work waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message

from service.app import create_app
from service.engines.base import GenerationChunk, GenerationRequest
from service.engines.simulated import SimulatedEngine
from service.request_scope import JsonBodyRoute
from service.streaming import ClientDisconnected, unless_disconnected
from tests.servers import fast_settings, wait_until


def _route(client: TestClient, path: str) -> JsonBodyRoute:
    (route,) = [r for r in client.app.routes if getattr(r, "path", None) == path]  # type: ignore[attr-defined]
    assert isinstance(route, JsonBodyRoute)
    return route


def test_generation_routes_take_the_direct_path_without_api_keys(client: TestClient) -> None:
    for path in ("/v1/completions", "/v1/chat/completions", "/generate"):
        route = _route(client, path)
        assert route.app == route._handle, path


def test_with_api_keys_the_routes_keep_the_direct_path_and_the_key_is_checked() -> None:
    app = create_app(fast_settings(api_keys="k1"))
    with TestClient(app) as keyed:
        assert wait_until(lambda: app.state.runtime.phase == "ready")
        route = _route(keyed, "/v1/completions")
        assert route.app == route._handle
        body = {"model": "simulated", "prompt": "a", "max_tokens": 2}
        assert keyed.post("/v1/completions", json=body).status_code == 401
        headers = {"authorization": "Bearer k1"}
        assert keyed.post("/v1/completions", json=body, headers=headers).status_code == 200


def test_json_in_another_encoding_falls_back_to_fastapi_and_is_served(
    client: TestClient,
) -> None:
    # pydantic-core reads UTF-8 only; FastAPI's json.loads also detects UTF-16.
    body = json.dumps({"model": "simulated", "prompt": "a b", "max_tokens": 3}).encode("utf-16")
    response = client.post(
        "/v1/completions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] == 3


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b"", "application/json", "request body: Field required"),
        (
            b'{"model": "simulated", "prompt": "a"',
            "application/json",
            "request body is not valid JSON",
        ),
        (
            b'{"model": "simulated", "prompt": "a"}',
            "text/plain",
            "Content-Type 'text/plain' is not JSON",
        ),
        (b"prompt=a", "application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
        (b'{"model": "simulated", "prompt": 5}', "application/json", "prompt"),
    ],
)
def test_bodies_that_do_not_validate_get_fastapis_errors(
    client: TestClient, content: bytes, content_type: str, message: str
) -> None:
    response = client.post(
        "/v1/completions", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]


def test_body_without_content_type_is_read_as_json_like_fastapi(client: TestClient) -> None:
    response = client.post(
        "/generate", content=b'{"model": "simulated", "prompt": "a b", "max_tokens": 2}'
    )
    assert response.status_code == 200, response.text
    assert response.json()["tokens_used"] == 2


class _Receive:
    """An ASGI receive channel whose client disconnects when told to."""

    def __init__(self) -> None:
        self.calls = 0
        self.gone = asyncio.Event()

    async def __call__(self) -> Message:
        self.calls += 1
        await self.gone.wait()
        return {"type": "http.disconnect"}


async def test_work_that_never_waits_costs_no_watcher() -> None:
    receive = _Receive()

    async def instant() -> str:
        return "done"

    assert await unless_disconnected(receive, instant(), None) == "done"
    await asyncio.sleep(0.01)  # a watcher scheduled for the next turn would run now
    assert receive.calls == 0


async def test_work_that_waits_is_cancelled_when_the_client_leaves() -> None:
    receive = _Receive()
    cancelled = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "late"

    async def leave() -> None:
        await asyncio.sleep(0.05)
        receive.gone.set()

    leaving = asyncio.ensure_future(leave())
    with pytest.raises(ClientDisconnected):
        await asyncio.wait_for(unless_disconnected(receive, slow(), None), 5)
    await leaving
    assert cancelled.is_set()
    assert receive.calls == 1


class _TrailingOffEngine(SimulatedEngine):
    """Ends every stream after two tokens without saying why."""

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        async for chunk in super().stream(request):
            if chunk.finish_reason is not None:
                return
            yield chunk


def test_an_engine_that_ends_without_a_finish_reason_stops() -> None:
    app = create_app(fast_settings(), engine=_TrailingOffEngine())
    with TestClient(app) as client:
        assert wait_until(lambda: app.state.runtime.phase == "ready")
        response = client.post(
            "/v1/completions", json={"model": "simulated", "prompt": "a", "max_tokens": 3}
        )
        assert response.status_code == 200, response.text
        (choice,) = response.json()["choices"]
        assert choice["finish_reason"] == "stop"
        assert response.json()["usage"]["completion_tokens"] == 2
        assert app.state.runtime.admission.in_flight == 0


def test_a_stream_whose_engine_ends_without_a_finish_reason_still_says_stop() -> None:
    app = create_app(fast_settings(), engine=_TrailingOffEngine())
    with TestClient(app) as client:
        assert wait_until(lambda: app.state.runtime.phase == "ready")
        body = {"model": "simulated", "prompt": "a", "max_tokens": 3, "stream": True}
        with client.stream("POST", "/v1/completions", json=body) as response:
            assert response.status_code == 200
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        finishes = [json.loads(event)["choices"][0]["finish_reason"] for event in events[:-1]]
        assert finishes[-1] == "stop"
        assert finishes[:-1] == [None] * (len(finishes) - 1)
        assert app.state.runtime.admission.in_flight == 0


def test_api_routes_are_matched_before_the_docs_which_are_still_served(
    client: TestClient,
) -> None:
    paths = [getattr(route, "path", None) for route in client.app.routes]  # type: ignore[attr-defined]
    assert paths.index("/v1/completions") < paths.index("/openapi.json")
    assert paths.index("/generate") < paths.index("/docs")
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 200, path
