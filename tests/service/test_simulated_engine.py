"""The simulated engine: timing model, batch limit, determinism, limits, abort."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.engines import simulated
from service.engines.base import GenerationChunk, GenerationRequest, PromptTooLongError
from service.engines.simulated import SimulatedEngine

# Timing bounds here catch a broken timing model (a delay ignored, a token early, a
# hang), never imprecision: how precise the timing is, benchmark 5 measures
# (`python -m benchmarks.run --only clock`).
LOAD_SLACK_S = 1.0


def request(request_id: str = "r", **fields: object) -> GenerationRequest:
    values: dict[str, object] = {
        "prompt": "a b c",
        "max_tokens": 5,
        "temperature": 1.0,
        "top_p": 1.0,
    }
    values.update(fields)
    return GenerationRequest(request_id=request_id, **values)  # type: ignore[arg-type]


async def collect(engine: SimulatedEngine, req: GenerationRequest) -> list[GenerationChunk]:
    return [chunk async for chunk in engine.stream(req)]


async def test_one_token_per_chunk_and_a_final_finish_reason() -> None:
    chunks = await collect(SimulatedEngine(), request(max_tokens=5))
    assert [c.token_count for c in chunks] == [1] * 5
    assert [c.finish_reason for c in chunks] == [None] * 4 + ["length"]
    assert all(c.prompt_tokens == 3 for c in chunks)


async def test_ttft_then_itl() -> None:
    engine = SimulatedEngine(ttft_s=0.1, itl_s=0.02)
    started = time.perf_counter()
    arrivals = []
    async for _ in engine.stream(request(max_tokens=6)):
        arrivals.append(time.perf_counter() - started)
    # Never early; late only by what a loaded machine adds (precision is benchmark 5's).
    assert 0.1 <= arrivals[0] < 0.1 + LOAD_SLACK_S
    # Absolute deadlines: the last token lands at ttft + 5 * itl, without drift.
    assert 0.2 <= arrivals[-1] < 0.2 + LOAD_SLACK_S


async def test_at_most_max_batch_sequences_run_the_rest_wait() -> None:
    engine = SimulatedEngine(ttft_s=0.1, max_batch=2)
    started = time.perf_counter()
    done: list[float] = []
    running: list[int] = []

    async def one(index: int) -> None:
        async for _ in engine.stream(request(str(index), max_tokens=1)):
            running.append(engine.running)
        done.append(time.perf_counter() - started)

    await asyncio.gather(*(one(i) for i in range(4)))
    done.sort()
    assert max(running) == 2  # two at once
    assert done[2] >= 0.2  # the next two waited for a slot, then for their first token


async def test_greedy_and_seeded_output_repeats() -> None:
    engine = SimulatedEngine()

    async def text(req: GenerationRequest) -> str:
        return "".join(c.text for c in await collect(engine, req))

    assert await text(request("1", temperature=0)) == await text(request("2", temperature=0))
    assert await text(request("1", seed=5)) == await text(request("2", seed=5))
    assert await text(request("1")) != await text(request("2"))


async def test_prompt_longer_than_the_context_is_refused_before_any_output() -> None:
    engine = SimulatedEngine(max_context_tokens=4)
    with pytest.raises(PromptTooLongError) as raised:
        await collect(engine, request(prompt="one two three four five"))
    assert raised.value.limit == 4
    chunks = await collect(engine, request(prompt="one two six", max_tokens=10))
    assert sum(c.token_count for c in chunks) == 1  # generation stops at the context
    assert chunks[-1].finish_reason == "length"


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("a b c", 3),  # at least one per word
        ("tokenizers", 3),  # about four characters per token
        ("tell me a story", 5),
        ("x" * 4_000_000, 1_000_000),  # no spaces: still counted by length
    ],
)
def test_tokens_are_counted_like_a_subword_tokenizer(text: str, tokens: int) -> None:
    assert simulated.count_tokens(text) == tokens


async def test_a_huge_prompt_without_spaces_is_refused() -> None:
    engine = SimulatedEngine()
    with pytest.raises(PromptTooLongError) as raised:
        await collect(engine, request(prompt="x" * 4_000_000))
    assert raised.value.prompt_tokens == 1_000_000


async def test_generated_text_counts_as_the_tokens_reported() -> None:
    chunks = await collect(SimulatedEngine(), request(max_tokens=200))
    text = "".join(c.text for c in chunks)
    assert simulated.count_tokens(text) == sum(c.token_count for c in chunks) == 200


async def test_cancelling_the_consumer_aborts_and_frees_the_slot() -> None:
    engine = SimulatedEngine(itl_s=0.05, max_batch=1)

    async def consume() -> None:
        await collect(engine, request("victim", max_tokens=100))

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.1)
    assert engine.running == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert engine.running == 0
    assert list(engine.aborted_request_ids) == ["victim"]
    assert len(await collect(engine, request("next", max_tokens=2))) == 2


async def test_zero_delay_generation_is_cheap() -> None:
    engine = SimulatedEngine()
    started = time.perf_counter()
    chunks = await collect(engine, request(max_tokens=2000))
    assert len(chunks) == 2000
    assert time.perf_counter() - started < LOAD_SLACK_S


async def test_tokens_keep_to_the_itl_without_drifting() -> None:
    engine = SimulatedEngine(itl_s=0.01)
    started = time.monotonic()
    arrivals = [time.monotonic() - started async for _ in engine.stream(request(max_tokens=30))]
    # Absolute deadlines: the 30th token is due 29 ITLs in, late tokens catching up.
    assert 0.29 <= arrivals[-1] < 0.29 + LOAD_SLACK_S, arrivals


def test_the_clock_survives_a_closed_loop_and_ends_when_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(simulated, "_CLOCK_IDLE_EXIT_S", 0.05)
    clock = simulated._Clock()

    async def abandoned() -> None:
        # Left sleeping when its loop closes; the thread must not die waking it.
        task = asyncio.ensure_future(clock.sleep_until(time.monotonic() + 0.05))
        await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(abandoned())

    async def punctual() -> float:
        deadline = time.monotonic() + 0.1
        await asyncio.wait_for(clock.sleep_until(deadline), 2)
        return time.monotonic() - deadline

    assert 0 <= asyncio.run(punctual()) < LOAD_SLACK_S
    thread = clock._thread
    assert thread is not None
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert clock._thread is None


async def test_shared_chunks_still_carry_each_prompts_own_length() -> None:
    engine = SimulatedEngine()
    short = await collect(engine, request(prompt="a", max_tokens=50, temperature=0))
    long = await collect(engine, request(prompt="a b c d e", max_tokens=50, temperature=0))
    assert {c.prompt_tokens for c in short} == {1}
    assert {c.prompt_tokens for c in long} == {5}
    assert [c.finish_reason for c in long].count("length") == 1
