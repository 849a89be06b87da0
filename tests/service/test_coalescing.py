"""Chunks of one sequence that are ready at once travel as one event; a chunk ready
alone is never held back; a half-started engine step is cleaned up on close."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from service.engines.base import EngineInfo, GenerationChunk, GenerationRequest, TokenLogprob
from service.engines.simulated import SimulatedEngine, synthetic_logprob
from service.generation.merge import MergedStreams
from tests.servers import ThreadServer, fast_settings, ready_client, thread_server
from tests.service.merged_reader import read_pausing_after_first
from tests.service.sse import sse_json
from tests.service.stub_engine import StubEngine

WORDS = [" a", " b", " c", " d", " e"]
HALF = -math.log(2)


def _entry(word: str) -> TokenLogprob:
    return TokenLogprob(word, HALF, (TokenLogprob(word, HALF), TokenLogprob(" z", 2 * HALF)))


class BurstEngine(StubEngine):
    """The first token alone, then the other four in one burst (as a behind event loop
    finds an engine's queued steps), the last with the finish reason; or, `paced`,
    each token after a loop turn of its own."""

    def __init__(self, *, paced: bool = False) -> None:
        self._paced = paced

    async def load(self) -> EngineInfo:
        return EngineInfo(model_name="scripted", optional_parameters=frozenset({"logprobs"}))

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        for index, word in enumerate(WORDS):
            if index == 1 or self._paced:
                await asyncio.sleep(0.01)
            logprobs = (_entry(word),) if request.logprobs is not None else None
            reason = "length" if index == len(WORDS) - 1 else None
            yield GenerationChunk(word, 1, 3, reason, logprobs)


@pytest.fixture
def burst() -> Iterator[ThreadServer]:
    with thread_server(fast_settings(), engine=BurstEngine()) as server:
        yield server


def _stream(engine: BurstEngine, path: str, body: dict[str, object]) -> list[dict]:
    with ready_client(fast_settings(), engine) as client:
        response = client.post(path, json={"model": "scripted", "stream": True, **body})
    assert response.status_code == 200, response.text
    return sse_json(response.text)  # asserts [DONE] comes last


def test_a_burst_is_one_completion_event_with_text_logprobs_and_usage_exact() -> None:
    body = {"prompt": "x", "max_tokens": 5, "logprobs": 1}
    events = _stream(
        BurstEngine(), "/v1/completions", body | {"stream_options": {"include_usage": True}}
    )
    *chunks, usage = events
    assert [c["choices"][0]["text"] for c in chunks] == [" a", " b c d e"]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, "length"]
    logprobs = chunks[1]["choices"][0]["logprobs"]
    assert logprobs["tokens"] == [" b", " c", " d", " e"]
    assert logprobs["text_offset"] == [2, 4, 6, 8]  # after the first event's " a"
    assert logprobs["token_logprobs"] == [HALF] * 4
    assert logprobs["top_logprobs"][2] == {" d": HALF, " z": 2 * HALF}
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}


def test_a_burst_is_one_chat_event_with_its_logprobs_entries_in_order() -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "logprobs": True, "top_logprobs": 1}
    events = _stream(BurstEngine(), "/v1/chat/completions", body)
    deltas = [e["choices"][0]["delta"].get("content") for e in events]
    assert deltas == [" a", " b c d e"]
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-1]["choices"][0]["finish_reason"] == "length"
    entries = events[1]["choices"][0]["logprobs"]["content"]
    assert [e["token"] for e in entries] == [" b", " c", " d", " e"]
    assert [e["bytes"] for e in entries] == [list(w.encode()) for w in WORDS[1:]]


def test_a_token_ready_alone_is_sent_alone() -> None:
    events = _stream(BurstEngine(paced=True), "/v1/completions", {"prompt": "x", "max_tokens": 5})
    assert [e["choices"][0]["text"] for e in events] == WORDS


def test_the_openai_client_reads_a_coalesced_stream(burst: ThreadServer) -> None:
    client = openai.OpenAI(base_url=f"{burst.base_url}/v1", api_key="unused", max_retries=0)
    stream = client.completions.create(
        model="scripted",
        prompt="x",
        max_tokens=5,
        logprobs=1,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    with_text = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].text for c in with_text) == "".join(WORDS)
    assert with_text[-1].choices[0].finish_reason == "length"
    tokens = [t for c in with_text for t in (c.choices[0].logprobs.tokens or [])]  # type: ignore[union-attr]
    assert tokens == WORDS
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def _request(max_tokens: int) -> GenerationRequest:
    return GenerationRequest("r", "hello", max_tokens, 0.0, 1.0, logprobs=1)


async def test_tokens_due_while_the_loop_was_busy_come_as_one_chunk() -> None:
    engine = SimulatedEngine(itl_s=0.002)
    seen: list[GenerationChunk] = []
    # The loop busy elsewhere (blocked on purpose): about 15 tokens fall due.
    chunks = await read_pausing_after_first(
        engine, _request(40), lambda: time.sleep(0.03), lambda _, chunk: seen.append(chunk)
    )
    assert seen == chunks, "metrics see each coalesced chunk once, as the client does"
    assert max(c.token_count for c in chunks) > 1
    assert sum(c.token_count for c in chunks) == 40
    assert chunks[-1].finish_reason == "length"
    words = "".join(c.text for c in chunks).split()
    logprobs = [entry for c in chunks for entry in c.logprobs or ()]
    assert [entry.token for entry in logprobs] == [" " + w for w in words]
    assert logprobs == [synthetic_logprob(w, 1) for w in words]
    for chunk in chunks:
        assert len(chunk.logprobs or ()) == chunk.token_count


async def test_closing_while_the_next_step_waits_aborts_the_engine_request() -> None:
    engine = SimulatedEngine(itl_s=0.05)
    streams = MergedStreams(engine, [_request(10)], lambda _, chunk: None)
    await streams.open()
    items = aiter(streams)
    _, first = await anext(items)
    assert first.token_count == 1  # the second token is not due: its step was left waiting
    await streams.aclose()
    assert list(engine.aborted_request_ids) == ["r"]
    assert engine.running == 0
