"""A real uvicorn on 127.0.0.1: the official openai client, back-pressure, client
disconnects, concurrency and engine failures, over real sockets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import httpx
import openai
import pytest

from service.engines.base import EngineError, GenerationChunk, GenerationRequest
from service.engines.simulated import SimulatedEngine, count_tokens
from service.request_scope import MAX_REQUEST_BODY_BYTES
from tests.servers import ThreadServer, fast_settings, thread_server, wait_until

JSON = {"content-type": "application/json"}


def openai_client(live: ThreadServer, api_key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.base_url}/v1", api_key=api_key, max_retries=0)


def metric(live: ThreadServer, line_start: str) -> float:
    for line in httpx.get(f"{live.base_url}/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{line_start} not in /metrics")


# --- the official openai package, unchanged


def test_openai_client_completion(live: ThreadServer) -> None:
    completion = openai_client(live).completions.create(
        model="simulated", prompt="hello there", max_tokens=6
    )
    assert count_tokens(completion.choices[0].text) == 6
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 6


def test_openai_client_streamed_completion(live: ThreadServer) -> None:
    stream = openai_client(live).completions.create(
        model="simulated",
        prompt="hello there",
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert count_tokens(text) == 5
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == count_tokens("hello there") + 5


def test_openai_client_chat(live: ThreadServer) -> None:
    chat = openai_client(live).chat.completions.create(
        model="simulated",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=4,
        temperature=0.5,
        top_p=0.9,
        seed=3,
        stop=["never-generated"],
    )
    assert chat.choices[0].message.role == "assistant"
    assert count_tokens(chat.choices[0].message.content or "") == 4


def test_openai_client_streamed_chat(live: ThreadServer) -> None:
    stream = openai_client(live).chat.completions.create(
        model="simulated", messages=[{"role": "user", "content": "hi"}], max_tokens=4, stream=True
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert count_tokens(content) == 4
    assert chunks[-1].choices[0].finish_reason == "length"


def test_openai_client_lists_models(live: ThreadServer) -> None:
    assert [m.id for m in openai_client(live).models.list()] == ["simulated"]


def test_openai_client_sees_400_as_bad_request(live: ThreadServer) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client(live).completions.create(model="simulated", prompt="x", max_tokens=0)
    assert "max_tokens" in str(raised.value)


# --- back-pressure


class _GatedEngine(SimulatedEngine):
    """Holds every sequence before its first token until the test opens the gate, so
    what is running and queued stays put however slow the machine is."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        await asyncio.to_thread(self.gate.wait, 30)
        async for chunk in super().stream(request):
            yield chunk


def test_full_queue_answers_429_with_retry_after() -> None:
    settings = fast_settings(max_concurrent_requests=1, max_queued_requests=1)
    engine = _GatedEngine()
    with thread_server(settings, engine) as live, ThreadPoolExecutor(2) as pool:
        url = f"{live.base_url}/v1/completions"
        body = {"model": "simulated", "prompt": "x", "max_tokens": 1}
        admitted = [pool.submit(httpx.post, url, json=body, timeout=30) for _ in range(2)]
        admission = live.runtime.admission
        assert wait_until(lambda: admission.running == 1 and admission.waiting == 1)
        assert metric(live, "trtllm_num_requests_running") == 1
        assert metric(live, "trtllm_num_requests_waiting") == 1
        try:
            refused = httpx.post(url, json=body, timeout=10)
        finally:
            engine.gate.set()
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "queue_full"
        assert [f.result().status_code for f in admitted] == [200, 200]
        assert metric(live, 'trtllm_requests_rejected_total{reason="queue_full"}') == 1
        assert metric(live, "trtllm_num_requests_running") == 0
        assert metric(live, "trtllm_num_requests_waiting") == 0


# --- request size


def test_chunked_body_without_a_length_is_capped_too(live: ThreadServer) -> None:
    def over_the_limit() -> Iterator[bytes]:
        megabyte = b" " * 2**20
        for _ in range(MAX_REQUEST_BODY_BYTES // len(megabyte) + 1):
            yield megabyte
        yield b'{"model": "simulated", "prompt": "x", "max_tokens": 1}'

    url = f"{live.base_url}/v1/completions"
    response = httpx.post(url, content=over_the_limit(), headers=JSON, timeout=30)
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    small = iter([b'{"model": "simulated", "prompt": "x",', b' "max_tokens": 2}'])
    response = httpx.post(url, content=small, headers=JSON, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] == 2


# --- client disconnects


@pytest.mark.parametrize("stream", [False, True])
def test_client_disconnect_aborts_the_engine_request(stream: bool) -> None:
    with thread_server(fast_settings(simulated_ttft_ms=50, simulated_itl_ms=100)) as live:
        engine = live.engine
        assert isinstance(engine, SimulatedEngine)
        body = {"model": "simulated", "prompt": "x", "max_tokens": 200, "stream": stream}
        headers = {"X-Request-Id": f"gone-{stream}"}
        url = f"{live.base_url}/v1/completions"
        if stream:
            with httpx.stream("POST", url, json=body, headers=headers, timeout=10) as response:
                lines = response.iter_lines()
                assert next(lines).startswith("data: ")
                assert engine.running == 1
            # Leaving the block without reading the rest closes the connection.
        else:
            # The client gives up (closing the socket) long before the 20 s generation ends.
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(url, json=body, headers=headers, timeout=0.5)
        assert wait_until(lambda: f"gone-{stream}" in engine.aborted_request_ids)
        assert wait_until(lambda: live.runtime.admission.in_flight == 0)
        assert engine.running == 0
        assert metric(live, "trtllm_num_requests_running") == 0


def test_disconnect_while_queued_leaves_the_queue() -> None:
    settings = fast_settings(max_concurrent_requests=1, simulated_ttft_ms=400)
    with thread_server(settings) as live, ThreadPoolExecutor(1) as pool:
        url = f"{live.base_url}/v1/completions"
        first = pool.submit(
            httpx.post, url, json={"model": "simulated", "prompt": "x", "max_tokens": 1}, timeout=10
        )
        assert wait_until(lambda: live.runtime.admission.running == 1)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                url, json={"model": "simulated", "prompt": "y", "max_tokens": 1}, timeout=0.15
            )
        assert wait_until(lambda: live.runtime.admission.waiting == 0, timeout=2)
        assert first.result().status_code == 200
        assert wait_until(lambda: live.runtime.admission.in_flight == 0)


# --- concurrency: requests overlap instead of queueing behind each other


class _PeakEngine(SimulatedEngine):
    """Remembers the most sequences it ever ran at once."""

    peak = 0

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        async for chunk in super().stream(request):
            self.peak = max(self.peak, self.running)
            yield chunk


def test_64_concurrent_requests_of_200ms_overlap() -> None:
    # How close to one engine time they finish is benchmark 1's figure
    # (`python -m benchmarks.run --only concurrency`); here, that they overlap at all.
    engine = _PeakEngine(ttft_s=0.2, max_batch=64)

    async def run(base_url: str) -> None:
        async with aiohttp.ClientSession() as session:

            async def one() -> int:
                async with session.post(
                    f"{base_url}/v1/completions",
                    json={"model": "simulated", "prompt": "x", "max_tokens": 1},
                ) as response:
                    await response.read()
                    return response.status

            statuses = await asyncio.gather(*(one() for _ in range(64)))
        assert statuses == [200] * 64

    with thread_server(fast_settings(), engine) as live:
        asyncio.run(run(live.base_url))
    # Served one after another, the engine would never run two at once; arrivals on
    # a loaded machine spread, so a quarter at once is proof enough.
    assert engine.peak >= 16, engine.peak


# --- engine failures


class FailingEngine(SimulatedEngine):
    """The simulated engine, failing after a few tokens (a GPU fault mid-stream)."""

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        produced = 0
        async for chunk in super().stream(request):
            if produced == 2:
                raise EngineError("CUDA error: an illegal memory access was encountered")
            produced += 1
            yield chunk


@pytest.fixture(scope="module")
def failing() -> ThreadServer:
    with thread_server(fast_settings(), engine=FailingEngine()) as server:
        yield server  # type: ignore[misc]


def test_mid_stream_engine_failure_ends_the_stream_with_an_error_event(
    failing: ThreadServer,
) -> None:
    response = httpx.post(
        f"{failing.base_url}/v1/completions",
        json={"model": "simulated", "prompt": "x", "max_tokens": 10, "stream": True},
    )
    assert response.status_code == 200
    data = [line for line in response.text.split("\n\n") if line]
    assert data[-1] == "data: [DONE]"
    assert '"error"' in data[-2] and "engine_error" in data[-2]
    with pytest.raises(openai.APIError):
        list(
            openai_client(failing).completions.create(
                model="simulated", prompt="x", max_tokens=10, stream=True
            )
        )
    assert wait_until(lambda: failing.runtime.admission.in_flight == 0)


def test_engine_failure_of_a_plain_request_is_a_clean_json_error(failing: ThreadServer) -> None:
    response = httpx.post(
        f"{failing.base_url}/generate", json={"model": "simulated", "prompt": "x", "max_tokens": 10}
    )
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "engine_error"
    assert "Traceback" not in error["message"]


# --- startup: listening before the model is loaded


def test_liveness_answers_while_the_model_loads() -> None:
    settings = fast_settings(simulated_load_seconds=1.0)
    with thread_server(settings, wait_ready=False) as live:
        base = live.base_url
        assert httpx.get(f"{base}/health/live").status_code == 200
        ready = httpx.get(f"{base}/health/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "loading"
        assert httpx.get(f"{base}/health").status_code == 503
        refused = httpx.post(f"{base}/v1/completions", json={"model": "simulated", "prompt": "x"})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "model_not_ready"
        assert wait_until(lambda: httpx.get(f"{base}/health/ready").status_code == 200, 10)
        health = httpx.get(f"{base}/health").json()
        assert health == {"status": "healthy", "model_loaded": True, "phase": "ready"}
