"""Log-probabilities on the OpenAI API: both shapes, streamed and not, limits, engines
that cannot give them, and the official client parsing them from a real uvicorn.

The simulated engine's synthetic distribution is fixed (service.engines.simulated):
the sampled word has probability 1/2 and is the likeliest, the i-th alternative 2^-(i+1).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator

import openai
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.engines.base import (
    UNKNOWN_LOGPROB,
    GenerationChunk,
    GenerationRequest,
    TokenLogprob,
)
from service.engines.simulated import count_tokens
from tests.servers import ThreadServer, fast_settings, thread_server, wait_until
from tests.service.sse import sse_json
from tests.service.stub_engine import StubEngine

HALF = -math.log(2)
CHAT = [{"role": "user", "content": "hello"}]


@pytest.fixture
def live() -> Iterator[ThreadServer]:
    with thread_server(fast_settings()) as server:
        yield server


def _client(app_settings: dict[str, object] | None = None, engine: object = None) -> TestClient:
    app = create_app(fast_settings(**(app_settings or {})), engine)  # type: ignore[arg-type]
    client = TestClient(app)
    client.__enter__()
    assert wait_until(lambda: app.state.runtime.phase == "ready")
    return client


@pytest.fixture
def client() -> Iterator[TestClient]:
    test_client = _client()
    yield test_client
    test_client.__exit__(None, None, None)


def _completion(client: TestClient, **fields: object) -> dict:
    body = {"model": "simulated", "prompt": "hello", "max_tokens": 5, "temperature": 0}
    response = client.post("/v1/completions", json=body | fields)
    assert response.status_code == 200, response.text
    return response.json()


def _chat(client: TestClient, **fields: object) -> dict:
    body = {"model": "simulated", "messages": CHAT, "max_tokens": 5, "temperature": 0}
    response = client.post("/v1/chat/completions", json=body | fields)
    assert response.status_code == 200, response.text
    return response.json()


def test_completion_logprobs_are_parallel_lists_one_entry_per_token(client: TestClient) -> None:
    choice = _completion(client, logprobs=2)["choices"][0]
    logprobs = choice["logprobs"]
    assert "".join(logprobs["tokens"]) == choice["text"]
    assert len(logprobs["tokens"]) == 5
    assert logprobs["token_logprobs"] == pytest.approx([HALF] * 5)
    starts = [sum(len(t) for t in logprobs["tokens"][:i]) for i in range(5)]
    assert logprobs["text_offset"] == starts
    for token, top in zip(logprobs["tokens"], logprobs["top_logprobs"], strict=True):
        # The sampled token is the likeliest here, so 2 alternatives make 2 entries.
        assert list(top) == [token, next(t for t in top if t != token)]
        assert sorted(top.values()) == pytest.approx([2 * HALF, HALF])


def test_completion_logprobs_zero_gives_the_sampled_token_alone(client: TestClient) -> None:
    logprobs = _completion(client, logprobs=0)["choices"][0]["logprobs"]
    assert logprobs["top_logprobs"] == [{t: pytest.approx(HALF)} for t in logprobs["tokens"]]


def test_no_logprobs_unless_asked(client: TestClient) -> None:
    assert _completion(client)["choices"][0]["logprobs"] is None
    assert _chat(client, logprobs=False)["choices"][0]["logprobs"] is None


def test_chat_logprobs_list_each_token_with_its_bytes_and_top_alternatives(
    client: TestClient,
) -> None:
    choice = _chat(client, logprobs=True, top_logprobs=3)["choices"][0]
    content = choice["logprobs"]["content"]
    assert "".join(item["token"] for item in content) == choice["message"]["content"]
    for item in content:
        assert item["logprob"] == pytest.approx(HALF)
        assert bytes(item["bytes"]).decode() == item["token"]
        tops = item["top_logprobs"]
        assert tops[0]["token"] == item["token"]
        assert [top["logprob"] for top in tops] == pytest.approx([HALF, 2 * HALF, 3 * HALF])


def test_chat_logprobs_without_top_logprobs_list_no_alternatives(client: TestClient) -> None:
    content = _chat(client, logprobs=True)["choices"][0]["logprobs"]["content"]
    assert len(content) == 5
    assert all(item["top_logprobs"] == [] for item in content)


def _stream(client: TestClient, path: str, body: dict) -> list[dict]:
    response = client.post(path, json=body | {"stream": True})
    assert response.status_code == 200, response.text
    return sse_json(response.text)


def test_streamed_chunks_carry_the_logprobs_of_their_own_tokens(client: TestClient) -> None:
    body = {"model": "simulated", "prompt": "hello", "max_tokens": 6, "temperature": 0}
    chunks = _stream(client, "/v1/completions", body | {"logprobs": 1})
    tokens: list[str] = []
    offsets: list[int] = []
    for chunk in chunks:
        choice = chunk["choices"][0]
        assert "".join(choice["logprobs"]["tokens"]) == choice["text"]
        tokens += choice["logprobs"]["tokens"]
        offsets += choice["logprobs"]["text_offset"]
    whole = _completion(client, max_tokens=6, logprobs=1)["choices"][0]["logprobs"]
    assert tokens == whole["tokens"]
    assert offsets == whole["text_offset"]

    chat = {"model": "simulated", "messages": CHAT, "max_tokens": 6, "temperature": 0}
    chunks = _stream(client, "/v1/chat/completions", chat | {"logprobs": True, "top_logprobs": 1})
    streamed = [c["choices"][0] for c in chunks]
    for choice in streamed[1:]:
        content = choice["logprobs"]["content"]
        assert "".join(item["token"] for item in content) == choice["delta"].get("content", "")
    whole_chat = _chat(client, max_tokens=6, logprobs=True, top_logprobs=1)
    assert [item for c in streamed for item in c["logprobs"]["content"]] == whole_chat["choices"][
        0
    ]["logprobs"]["content"]


def test_a_stop_string_keeps_one_entry_per_counted_token(client: TestClient) -> None:
    text = _completion(client, max_tokens=12)["choices"][0]["text"]
    stop = text.split()[3]
    answer = _completion(client, max_tokens=12, stop=[stop], logprobs=0)
    logprobs = answer["choices"][0]["logprobs"]
    assert len(logprobs["tokens"]) == answer["usage"]["completion_tokens"]
    assert answer["choices"][0]["finish_reason"] == "stop"


def test_top_logprobs_above_the_setting_is_a_400_naming_it() -> None:
    client = _client({"max_top_logprobs": 2})
    try:
        chat = {"model": "simulated", "messages": CHAT, "logprobs": True, "top_logprobs": 3}
        response = client.post("/v1/chat/completions", json=chat)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["param"] == "top_logprobs"
        assert "MAX_TOP_LOGPROBS=2" in error["message"]
        completion = {"model": "simulated", "prompt": "x", "logprobs": 3}
        response = client.post("/v1/completions", json=completion)
        assert response.json()["error"]["param"] == "logprobs"
        assert client.post("/v1/completions", json=completion | {"logprobs": 2}).status_code == 200
    finally:
        client.__exit__(None, None, None)


class _NoLogprobsEngine(StubEngine):
    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        yield GenerationChunk("x", 1, 1, "stop")


def test_an_engine_without_logprobs_refuses_them_by_name() -> None:
    client = _client(engine=_NoLogprobsEngine())
    try:
        body = {"model": "scripted", "prompt": "x", "logprobs": 0}
        response = client.post("/v1/completions", json=body)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["param"] == "logprobs"
        assert "not supported by this engine" in error["message"]
    finally:
        client.__exit__(None, None, None)


class _UnknownLogprobEngine(StubEngine):
    """An engine that could not score its token (outside the top computed), with an
    alternative at minus infinity (which JSON cannot carry) that is part of a character."""

    async def load(self):  # type: ignore[no-untyped-def]
        info = await super().load()
        info.optional_parameters = frozenset({"logprobs"})
        return info

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        top = (TokenLogprob("y", -0.1), TokenLogprob("\ufffd", -math.inf, raw=b"\xe2"))
        entry = TokenLogprob("x", UNKNOWN_LOGPROB, top)
        yield GenerationChunk("x", 1, 1, "stop", (entry,))


def test_unknown_and_infinite_logprobs_become_openais_floor_and_bytes_are_raw() -> None:
    client = _client(engine=_UnknownLogprobEngine())
    try:
        body = {"model": "scripted", "messages": CHAT, "logprobs": True, "top_logprobs": 2}
        response = client.post("/v1/chat/completions", json=body)
        (item,) = response.json()["choices"][0]["logprobs"]["content"]
        assert item["logprob"] == -9999.0
        assert [top["logprob"] for top in item["top_logprobs"]] == [-0.1, -9999.0]
        # A part of a character: its own bytes, not those of U+FFFD.
        assert item["top_logprobs"][1]["bytes"] == [0xE2]
    finally:
        client.__exit__(None, None, None)


# --- the official openai client against a real uvicorn


def _openai(live: ThreadServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.base_url}/v1", api_key="unused", max_retries=0)


def test_openai_client_parses_completion_logprobs(live: ThreadServer) -> None:
    completion = _openai(live).completions.create(
        model="simulated", prompt="hello there", max_tokens=4, logprobs=2
    )
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens is not None
    assert "".join(logprobs.tokens) == completion.choices[0].text
    assert logprobs.token_logprobs == pytest.approx([HALF] * 4)
    assert logprobs.top_logprobs is not None and all(len(t) == 2 for t in logprobs.top_logprobs)

    stream = _openai(live).completions.create(
        model="simulated", prompt="hello there", max_tokens=4, logprobs=1, stream=True
    )
    streamed = [c.choices[0].logprobs for c in stream if c.choices]
    assert sum(len(lp.tokens or []) for lp in streamed if lp) == 4


def test_openai_client_parses_chat_logprobs(live: ThreadServer) -> None:
    chat = _openai(live).chat.completions.create(
        model="simulated", messages=CHAT, max_tokens=4, logprobs=True, top_logprobs=2
    )
    logprobs = chat.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert "".join(t.token for t in logprobs.content) == chat.choices[0].message.content
    assert all(len(t.top_logprobs) == 2 for t in logprobs.content)
    assert logprobs.content[0].bytes == list(logprobs.content[0].token.encode())

    stream = _openai(live).chat.completions.create(
        model="simulated", messages=CHAT, max_tokens=4, logprobs=True, stream=True
    )
    tokens = [
        item.token
        for chunk in stream
        for choice in chunk.choices
        if choice.logprobs and choice.logprobs.content
        for item in choice.logprobs.content
    ]
    assert count_tokens("".join(tokens)) == 4
