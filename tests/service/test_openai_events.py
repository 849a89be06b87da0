"""Streamed events built from a per-choice template are byte for byte the events the
protocol models serialise, whatever the text holds."""

from __future__ import annotations

import pytest

from service.engines.base import GenerationChunk
from service.openai_api.protocol import (
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatDelta,
    CompletionChoice,
    CompletionResponse,
)
from service.openai_api.serving import _TEXT_MARK, _ChunkEvents, _Reply
from service.streaming import sse_event

TEXTS = [" word", 'quote " and \\ backslash', "line\nbreak\x01\x7f", "é ✓ 😀 \u2028", _TEXT_MARK]
# A model name holding the marker's text must not confuse the template.
REPLY = _Reply(id="cmpl-abc", created=1700000000, model=f"m{_TEXT_MARK}")


def completion_choice(index: int, text: str) -> CompletionChoice:
    return CompletionChoice(text=text, index=index, finish_reason=None)


def chat_choice(index: int, text: str) -> ChatChunkChoice:
    return ChatChunkChoice(index=index, delta=ChatDelta(content=text))


def unused(index: int, chunk: GenerationChunk, first: bool) -> None:
    raise AssertionError("a text-only middle chunk must take the template")


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize(
    ("envelope", "choice"),
    [(CompletionResponse, completion_choice), (ChatCompletionChunk, chat_choice)],
)
def test_template_event_equals_the_models_event(
    envelope: type[CompletionResponse | ChatCompletionChunk], choice: object, text: str
) -> None:
    events = _ChunkEvents(REPLY, envelope, unused, choice)  # type: ignore[arg-type]
    for index in (0, 3):
        expected = sse_event(REPLY.body(envelope, [choice(index, text)]).model_dump_json())  # type: ignore[operator]
        assert events(index, GenerationChunk(text, 1, 2), first=False) == expected


def test_first_and_last_chunks_take_the_models_path() -> None:
    seen: list[tuple[int, bool]] = []

    def chunk_choice(index: int, chunk: GenerationChunk, first: bool) -> CompletionChoice:
        seen.append((index, first))
        return CompletionChoice(text=chunk.text, index=index, finish_reason=chunk.finish_reason)

    events = _ChunkEvents(REPLY, CompletionResponse, chunk_choice, completion_choice)
    events(0, GenerationChunk(" a", 1, 2), first=True)
    events(0, GenerationChunk(" b", 1, 2, "length"), first=False)
    events(0, GenerationChunk("", 0, 2), first=False)
    assert seen == [(0, True), (0, False), (0, False)]


def test_a_model_named_like_the_marker_falls_back_to_the_models() -> None:
    reply = _Reply(id="cmpl-abc", created=1, model=_TEXT_MARK)

    def chunk_choice(index: int, chunk: GenerationChunk, first: bool) -> CompletionChoice:
        return completion_choice(index, chunk.text)

    events = _ChunkEvents(reply, CompletionResponse, chunk_choice, completion_choice)
    expected = sse_event(
        reply.body(CompletionResponse, [completion_choice(0, " x")]).model_dump_json()
    )
    assert events(0, GenerationChunk(" x", 1, 2), first=False) == expected
