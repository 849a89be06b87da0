"""One request's sequences: merged engine streams, their ending, and the one mapping
from what generation raises to the API's errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from service.admission import Admission, QueueFullError
from service.engines.base import (
    EngineError,
    GenerationChunk,
    GenerationRequest,
    InvalidRequestError,
    PromptTooLongError,
)
from service.errors import APIError, to_api_error
from service.generation.coalesce import merged
from service.generation.merge import MergedStreams
from tests.service.stub_engine import StubEngine


class _ScriptedEngine(StubEngine):
    """Streams the chunks scripted for each prompt, then ends (with or without a reason)."""

    def __init__(self, scripts: dict[str, Sequence[GenerationChunk]]) -> None:
        self._scripts = scripts
        self.closed: list[str] = []

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        try:
            for chunk in self._scripts[request.prompt]:
                yield chunk
        finally:
            self.closed.append(request.prompt)


def _request(prompt: str) -> GenerationRequest:
    return GenerationRequest(prompt, prompt, 8, 1.0, 1.0)


TRAILING_OFF = [GenerationChunk(" a", 1, 3), GenerationChunk(" b", 1, 3)]
FINISHED = [GenerationChunk(" a", 1, 5), GenerationChunk(" b", 1, 5, "length")]


async def _merged(
    scripts: dict[str, Sequence[GenerationChunk]], prompts: Sequence[str], *, streamed: bool
) -> tuple[list[tuple[int, GenerationChunk]], _ScriptedEngine]:
    engine = _ScriptedEngine(scripts)
    seen: list[tuple[int, GenerationChunk]] = []
    streams = MergedStreams(
        engine, [_request(p) for p in prompts], lambda i, c: seen.append((i, c))
    )
    await streams.open()
    try:
        if streamed:
            handed = [item async for item in streams]
            assert handed == seen, "the caller gets exactly what on_chunk saw"
        else:
            await streams.run_to_end()
    finally:
        await streams.aclose()
    return seen, engine


@pytest.mark.parametrize("streamed", [True, False])
@pytest.mark.parametrize("prompts", [["trailing"], ["trailing", "finished"]])
async def test_a_stream_that_ends_without_a_reason_gets_one_stop_chunk(
    prompts: list[str], streamed: bool
) -> None:
    scripts = {"trailing": TRAILING_OFF, "finished": FINISHED}
    seen, engine = await _merged(scripts, prompts, streamed=streamed)
    trailing = [chunk for index, chunk in seen if index == 0]
    # A streamed single sequence may send its ready chunks as one; the stop comes after.
    assert trailing[-1] == GenerationChunk("", 0, 3, "stop")
    assert merged(trailing) == merged([*TRAILING_OFF, GenerationChunk("", 0, 3, "stop")])
    if len(prompts) == 2:
        assert [chunk for index, chunk in seen if index == 1] == FINISHED
    assert sorted(engine.closed) == sorted(prompts)


@pytest.mark.parametrize("prompts", [["silent"], ["silent", "finished"]])
async def test_an_engine_that_sends_nothing_ends_with_stop_for_one_sequence_or_several(
    prompts: list[str],
) -> None:
    seen, _ = await _merged({"silent": [], "finished": FINISHED}, prompts, streamed=True)
    assert [chunk for index, chunk in seen if index == 0] == [GenerationChunk("", 0, 0, "stop")]


async def test_a_refusal_before_the_first_chunk_is_raised_by_open() -> None:
    class Refusing(_ScriptedEngine):
        async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
            raise PromptTooLongError(9, 4)
            yield  # pragma: no cover

    for prompts in (["a"], ["a", "b"]):
        streams = MergedStreams(Refusing({}), [_request(p) for p in prompts], lambda i, c: None)
        with pytest.raises(PromptTooLongError):
            await streams.open()
        await streams.aclose()


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (QueueFullError(), 429, "queue_full"),
        (PromptTooLongError(9, 4), 400, "context_length_exceeded"),
        (InvalidRequestError("top_k: too large"), 400, "invalid_request"),
        (EngineError("executor died"), 500, "engine_error"),
        (RuntimeError("a bug with a secret"), 500, "internal_error"),
    ],
)
def test_one_mapping_from_what_generation_raises_to_status_and_code(
    error: Exception, status: int, code: str
) -> None:
    mapped = to_api_error(error, prompt_param="messages")
    assert (mapped.status, mapped.code) == (status, code)
    assert "secret" not in mapped.message
    if code == "context_length_exceeded":
        assert mapped.param == "messages"
    if code == "queue_full":
        assert mapped.headers["Retry-After"]
    same = APIError(418, "teapot")
    assert to_api_error(same) is same


async def test_an_admission_slot_is_released_once_however_often_it_is_ended() -> None:
    admission = Admission(max_running=1, max_waiting=0)
    async with await admission.admit() as slot:
        assert admission.running == 1
        slot.release()
        assert admission.in_flight == 0
    assert admission.running == 0
    with pytest.raises(QueueFullError):
        async with await admission.admit():
            await admission.admit()
    assert admission.in_flight == 0
