"""The transformers engine: real generation with a tiny random Llama, through HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from service.engines.base import EngineError, GenerationChunk, GenerationRequest
from service.engines.transformers_engine import TransformersEngine
from service.openai_api.protocol import MAX_N, SEED_LIMIT
from tests.servers import ThreadServer, fast_settings, thread_server, wait_until
from tests.service.sse import sse_json
from tests.service.tiny_model import CONTEXT_TOKENS, SPECIAL, WORDS, build_tiny_llama


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[ThreadServer]:
    settings = fast_settings(
        engine="transformers", model_path=str(model_dir), served_model_name="tiny"
    )
    with thread_server(settings) as live:
        yield live


def test_completion_runs_the_model(server: ThreadServer) -> None:
    response = httpx.post(
        f"{server.base_url}/v1/completions",
        json={"model": "tiny", "prompt": "hello world", "max_tokens": 6, "temperature": 0},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "tiny"
    assert body["usage"]["prompt_tokens"] == 3  # <s> hello world
    assert 0 < body["usage"]["completion_tokens"] <= 6
    assert body["choices"][0]["finish_reason"] in ("stop", "length")


def test_greedy_and_seeded_sampling_repeat(server: ThreadServer) -> None:
    def text(**sampling: object) -> str:
        body = {"model": "tiny", "prompt": "tell me a story", "max_tokens": 8, **sampling}
        response = httpx.post(f"{server.base_url}/v1/completions", json=body, timeout=30)
        return str(response.json()["choices"][0]["text"])

    assert text(temperature=0) == text(temperature=0)
    assert text(temperature=1.5, top_p=0.9, seed=11) == text(temperature=1.5, top_p=0.9, seed=11)


def test_the_largest_seed_fits_every_sample(server: ThreadServer) -> None:
    # n samples take seed .. seed + n - 1; torch.Generator refuses anything past 2**64 - 1.
    body = {"model": "tiny", "prompt": "hi", "max_tokens": 2, "n": MAX_N, "seed": SEED_LIMIT - 1}
    response = httpx.post(f"{server.base_url}/v1/completions", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert len(response.json()["choices"]) == MAX_N


def test_logit_bias_forces_bans_and_bounds_tokens(server: ThreadServer) -> None:
    def completion(**fields: object) -> httpx.Response:
        body = {"model": "tiny", "prompt": "tell me", "max_tokens": 4, "temperature": 0}
        return httpx.post(f"{server.base_url}/v1/completions", json=body | fields, timeout=30)

    story = completion(logit_bias={str(len(SPECIAL)): 100}).json()["choices"][0]["text"]
    assert story.split() == [WORDS[0]] * 4
    greedy = completion().json()["choices"][0]["text"].split()
    banned = completion(logit_bias={str(len(SPECIAL) + WORDS.index(greedy[0])): -100})
    assert banned.json()["choices"][0]["text"].split()[0] != greedy[0]
    outside = completion(logit_bias={"100000": 1})
    assert outside.status_code == 400
    assert "logit_bias: token id 100000" in outside.json()["error"]["message"]


def test_chat_uses_the_tokenizer_template_through_the_openai_client(server: ThreadServer) -> None:
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0)
    chat = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "hello"}], max_tokens=4
    )
    # <s> <|user|> hello <|end|> <|assistant|>
    assert chat.usage is not None and chat.usage.prompt_tokens == 5
    stream = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=4,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 4


def test_streamed_generate(server: ThreadServer) -> None:
    response = httpx.post(
        f"{server.base_url}/generate",
        json={
            "model": "tiny",
            "prompt": "one two",
            "max_tokens": 5,
            "temperature": 0,
            "stream": True,
        },
        timeout=30,
    )
    events = sse_json(response.text)
    assert events[-1]["finish_reason"] in ("stop", "length")
    assert events[-1]["tokens_used"] <= 5


def test_prompt_longer_than_the_model_context_is_a_400(server: ThreadServer) -> None:
    response = httpx.post(
        f"{server.base_url}/v1/completions",
        json={"model": "tiny", "prompt": "hello " * CONTEXT_TOKENS, "max_tokens": 1},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


def test_disconnect_stops_the_decode_thread(server: ThreadServer) -> None:
    engine = server.engine
    assert isinstance(engine, TransformersEngine)
    body = {"model": "tiny", "prompt": "hello", "max_tokens": 50, "stream": True, "temperature": 0}
    with httpx.stream("POST", f"{server.base_url}/v1/completions", json=body) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    assert wait_until(lambda: server.runtime.admission.in_flight == 0)
    assert wait_until(lambda: engine.sequences_in_flight == 0)


def test_model_loads_in_the_background(model_dir: Path) -> None:
    settings = fast_settings(engine="transformers", model_path=str(model_dir))
    started = time.monotonic()
    with thread_server(settings, wait_ready=False) as live:
        assert httpx.get(f"{live.base_url}/health/live").status_code == 200
        assert wait_until(lambda: live.runtime.phase == "ready", 30)
    assert time.monotonic() - started < 30


# Engine-level: continuous batching must not change what a request generates.

PROMPTS = [
    "hello",
    "tell me a story about the cat and the dog",
    "one two three four five six seven eight nine ten one two three four five six seven",
    "a",
]


def _request(prompt: str, max_tokens: int, **sampling: float | int) -> GenerationRequest:
    values: dict[str, float | int] = {"temperature": 0.0, "top_p": 1.0, **sampling}
    return GenerationRequest(
        request_id=prompt,
        prompt=prompt,
        max_tokens=max_tokens,
        temperature=float(values["temperature"]),
        top_p=float(values["top_p"]),
        seed=int(values["seed"]) if "seed" in values else None,
    )


async def _collect(
    engine: TransformersEngine, request: GenerationRequest, delay_s: float = 0.0
) -> tuple[str, int, str | None]:
    await asyncio.sleep(delay_s)
    text, tokens, finish = "", 0, None
    async for chunk in engine.stream(request):
        text += chunk.text
        tokens += chunk.token_count
        finish = chunk.finish_reason
    return text, tokens, finish


@pytest.fixture(scope="module")
def sharp_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("sharp-llama"), weight_std=0.5)


@pytest.fixture
async def engine(sharp_model_dir: Path) -> AsyncIterator[TransformersEngine]:
    live = TransformersEngine(model_path=str(sharp_model_dir), max_batch_size=3)
    await live.load()
    yield live
    await live.shutdown()


async def test_batched_requests_generate_what_each_generates_alone(
    engine: TransformersEngine,
) -> None:
    # Different prompt lengths and budgets: rows join with padding on either side,
    # finish at different steps and leave the batch while others run on.
    requests = [_request(p, 6 + 5 * i) for i, p in enumerate(PROMPTS)]
    alone = [await _collect(engine, r) for r in requests]
    assert all(tokens > 1 for _, tokens, _ in alone), alone
    # Staggered starts admit rows between steps; 4 requests > max_batch_size 3 queue one.
    together = await asyncio.gather(
        *(_collect(engine, r, delay_s=0.01 * i) for i, r in enumerate(requests))
    )
    assert together == alone
    seeded = _request(PROMPTS[1], 12, temperature=1.2, top_p=0.9, seed=5)
    first = await _collect(engine, seeded)
    assert first == await _collect(engine, seeded)
    assert engine.sequences_in_flight == 0


async def test_cancelling_one_request_leaves_the_others_intact(
    engine: TransformersEngine,
) -> None:
    keep = _request(PROMPTS[2], 20)
    expected = await _collect(engine, keep)

    async def abandon() -> None:
        async for _ in engine.stream(_request(PROMPTS[1], 40)):
            raise asyncio.CancelledError  # as a client disconnect does, mid-stream

    results = await asyncio.gather(abandon(), _collect(engine, keep), return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1] == expected
    assert wait_until(lambda: engine.sequences_in_flight == 0)


async def test_stop_string_ends_the_text_before_it(engine: TransformersEngine) -> None:
    full, _, _ = await _collect(engine, _request(PROMPTS[1], 12))
    words = full.split()
    assert len(words) > 3, full
    stop = " " + words[2]
    cut = full[: full.index(stop)]
    request = GenerationRequest("stop", PROMPTS[1], 12, 0.0, 1.0, stop=(stop,))
    assert await _collect(engine, request) == (cut, len(cut.split()) + 1, "stop")


async def test_a_failing_forward_fails_its_request_and_the_engine_serves_on(
    engine: TransformersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(engine._model, "forward", broken)
    with pytest.raises(EngineError, match="generation failed"):
        await _collect(engine, _request(PROMPTS[0], 4))
    monkeypatch.undo()
    assert (await _collect(engine, _request(PROMPTS[0], 4)))[1] > 0
    assert engine.fatal_error() is None


async def test_shutdown_ends_running_streams_with_abort(
    engine: TransformersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    forward = engine._model.forward

    def slow_forward(*args: object, **kwargs: object) -> object:
        time.sleep(0.05)  # 40 tokens take 2 s: shutdown surely comes first
        return forward(*args, **kwargs)

    monkeypatch.setattr(engine._model, "forward", slow_forward)
    stream = engine.stream(_request(PROMPTS[1], 40))
    first = await anext(stream)
    assert first.finish_reason is None
    await engine.shutdown()
    rest = [chunk async for chunk in stream]
    assert rest[-1].finish_reason == "abort"
    assert sum(c.token_count for c in [first, *rest]) < 40


async def test_logprobs_are_those_of_the_models_own_forward_pass(
    engine: TransformersEngine, sharp_model_dir: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Sampled, in a batch with a row that asks for none: each row gets only its own.
    scored = _request(PROMPTS[1], 6, temperature=1.0, top_p=1.0, seed=3)
    scored = dataclasses.replace(scored, logprobs=2)
    chunks, _ = await asyncio.gather(
        _chunks(engine, scored), _chunks(engine, _request(PROMPTS[0], 6))
    )
    entries = [entry for chunk in chunks for entry in chunk.logprobs or ()]
    assert len(entries) == sum(chunk.token_count for chunk in chunks) > 0

    tokenizer = AutoTokenizer.from_pretrained(sharp_model_dir)
    model = AutoModelForCausalLM.from_pretrained(sharp_model_dir, dtype=torch.float32)
    prompt = tokenizer(PROMPTS[1])["input_ids"]
    generated = tokenizer.convert_tokens_to_ids([entry.token for entry in entries])
    with torch.inference_mode():
        logits = model(torch.tensor([prompt + generated])).logits[0]
    expected = torch.log_softmax(logits[len(prompt) - 1 : -1].float(), dim=-1)
    for position, entry in enumerate(entries):
        row = expected[position]
        assert entry.logprob == pytest.approx(row[generated[position]].item(), abs=1e-3)
        values, ids = torch.topk(row, 2)
        assert [top.token for top in entry.top] == tokenizer.convert_ids_to_tokens(ids.tolist())
        assert [top.logprob for top in entry.top] == pytest.approx(values.tolist(), abs=1e-3)


async def _chunks(engine: TransformersEngine, request: GenerationRequest) -> list[GenerationChunk]:
    return [chunk async for chunk in engine.stream(request)]


def test_openai_client_gets_logprobs_from_the_model(server: ThreadServer) -> None:
    client = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="x", max_retries=0)
    chat = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=4,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    logprobs = chat.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert chat.usage is not None and len(logprobs.content) == chat.usage.completion_tokens > 0
    for item in logprobs.content:
        # Greedy: the sampled token is the likeliest of the raw logits.
        assert [top.logprob for top in item.top_logprobs] == sorted(
            (top.logprob for top in item.top_logprobs), reverse=True
        )
        assert item.top_logprobs[0].token == item.token
        assert item.logprob == pytest.approx(item.top_logprobs[0].logprob)
