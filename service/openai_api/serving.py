"""OpenAI completions and chat: requests -> engine sequences -> a response model, or
an EventStream of encoded chunk events (the router turns either into HTTP).

Both endpoints share everything but the shape of a choice: `_Reply` holds what every
body and event of one response repeats (id, created, model), `_respond` streams or
collects, and each endpoint's `_Choices` only says how a sequence becomes a choice.
"""

from __future__ import annotations

import abc
import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from pydantic import BaseModel
from pydantic_core import to_json

from service import limits
from service.engines.base import ChatMessage, EngineError, GenerationChunk, GenerationRequest
from service.errors import APIError
from service.generation import Generation, SequenceState
from service.generation.sampling import engine_requests
from service.openai_api.logprobs import chat_logprobs, completion_logprobs
from service.openai_api.protocol import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatDelta,
    ChatMessageOut,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    ModelCard,
    ModelList,
    SamplingFields,
    Usage,
)
from service.runtime import Runtime
from service.streaming import EventStream, sse_event

OWNED_BY = "tensorrt-llm-k8s"

EnvelopeT = TypeVar("EnvelopeT", CompletionResponse, ChatCompletionResponse, ChatCompletionChunk)
# (choice index, engine chunk, whether it is the choice's first) -> the choice to send,
# or None for a chunk with nothing to say.
ChunkChoice = Callable[[int, GenerationChunk, bool], BaseModel | None]
# (choice index, a text) -> the choice of a mid-stream chunk that carries only text.
TextChoice = Callable[[int, str], BaseModel]


@dataclass(frozen=True)
class _Reply:
    """What every body and event of one response repeats."""

    id: str
    created: int
    model: str

    def body(
        self, envelope: type[EnvelopeT], choices: Sequence[BaseModel], usage: Usage | None = None
    ) -> EnvelopeT:
        return envelope(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=usage
        )


class OpenAIServing:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def models(self) -> ModelList:
        self._runtime.require_ready()
        # Behind a gateway that routes by model, one server answers /v1/models for all:
        # its own model first, then the others the stack serves (LISTED_MODEL_NAMES).
        names = dict.fromkeys([self._runtime.model_name, *self._runtime.settings.listed_models])
        return ModelList(
            data=[
                ModelCard(id=name, created=self._runtime.created_at, owned_by=OWNED_BY)
                for name in names
            ]
        )

    def _engine_requests(
        self,
        body: SamplingFields,
        prompts: Sequence[str],
        request_id: str,
        max_tokens: int | None,
        add_special_tokens: bool,
    ) -> list[GenerationRequest]:
        """Check what only the loaded engine knows, then fan out prompts x n."""
        runtime = self._runtime
        if body.model != runtime.model_name:
            raise APIError(
                404,
                f"model {body.model!r} does not exist; this server serves {runtime.model_name!r}",
                code="model_not_found",
                param="model",
            )
        return engine_requests(
            runtime,
            request_id,
            prompts,
            body,
            max_tokens=max_tokens,
            n=body.n,
            stop=body.stop_list,
            seed=body.seed,
            add_special_tokens=add_special_tokens,
            optional=body.optional_parameters(),
        )

    def _start(
        self,
        body: SamplingFields,
        prompts: Sequence[str],
        request_id: str,
        max_tokens: int | None,
        *,
        id_prefix: str,
        prompt_param: str,
        add_special_tokens: bool = True,
    ) -> tuple[Generation, _Reply]:
        requests = self._engine_requests(body, prompts, request_id, max_tokens, add_special_tokens)
        generation = Generation(self._runtime, requests, prompt_param=prompt_param)
        reply = _Reply(f"{id_prefix}-{request_id}", int(time.time()), self._runtime.model_name)
        return generation, reply

    async def create_completion(
        self, body: CompletionRequest, request_id: str
    ) -> BaseModel | EventStream:
        self._runtime.require_ready()
        limits.check_sampling(self._runtime.settings, body)
        limits.check_prompts(self._runtime.settings, len(body.prompts), body.n)
        limits.check_top_logprobs(self._runtime.settings, "logprobs", body.logprobs)
        generation, reply = self._start(
            body, body.prompts, request_id, body.max_tokens, id_prefix="cmpl", prompt_param="prompt"
        )
        return await _respond(generation, body, reply, _CompletionChoices(body))

    async def create_chat_completion(
        self, body: ChatCompletionRequest, request_id: str
    ) -> BaseModel | EventStream:
        self._runtime.require_ready()
        limits.check_sampling(self._runtime.settings, body)
        limits.check_messages(self._runtime.settings, body.messages)
        limits.check_sequences(self._runtime.settings, 1, body.n)
        limits.check_top_logprobs(self._runtime.settings, "top_logprobs", body.top_logprobs)
        messages = [ChatMessage(role=m.role, content=m.text) for m in body.messages]
        try:
            # Templates are Jinja run over the whole conversation: long chats would
            # hold the event loop (and every other stream) for milliseconds.
            prompt = await asyncio.to_thread(self._runtime.engine.apply_chat_template, messages)
        except EngineError as error:
            raise APIError(400, f"messages: {error}", param="messages") from None
        generation, reply = self._start(
            body,
            [prompt],
            request_id,
            body.token_limit,
            id_prefix="chatcmpl",
            prompt_param="messages",
            # The template wrote the special tokens (BOS) already.
            add_special_tokens=False,
        )
        return await _respond(generation, body, reply, _ChatChoices(body))


class _Choices(abc.ABC):
    """How an endpoint turns its sequences into choices: all it does not share."""

    chunk_envelope: ClassVar[type[CompletionResponse | ChatCompletionChunk]]
    final_envelope: ClassVar[type[CompletionResponse | ChatCompletionResponse]]

    @abc.abstractmethod
    def chunk(self, index: int, chunk: GenerationChunk, first: bool) -> BaseModel | None:
        """The choice of a streamed chunk, or None for a chunk with nothing to say."""

    @abc.abstractmethod
    def text(self, index: int, text: str) -> BaseModel:
        """The choice of a mid-stream chunk that carries only text."""

    @abc.abstractmethod
    def final(self, index: int, sequence: SequenceState) -> BaseModel:
        """The choice of a collected answer."""


class _CompletionChoices(_Choices):
    chunk_envelope = CompletionResponse
    final_envelope = CompletionResponse

    def __init__(self, body: CompletionRequest) -> None:
        self._prompts = body.prompts
        self._n = body.n
        self._echo = body.echo
        self._logprobs = body.logprobs is not None
        # Per choice: where the next streamed token starts in its text.
        self._offsets: dict[int, int] = {}

    def _echoed(self, index: int, text: str) -> str:
        return self._prompts[index // self._n] + text if self._echo else text

    def chunk(self, index: int, chunk: GenerationChunk, first: bool) -> BaseModel | None:
        text = self._echoed(index, chunk.text) if first else chunk.text
        if not text and chunk.finish_reason is None and not chunk.logprobs:
            return None
        logprobs = None
        if self._logprobs:
            entries = chunk.logprobs or ()
            offset = self._offsets.get(index, 0)
            logprobs = completion_logprobs(entries, offset)
            self._offsets[index] = offset + sum(len(entry.token) for entry in entries)
        return CompletionChoice(
            text=text, index=index, logprobs=logprobs, finish_reason=chunk.finish_reason
        )

    def text(self, index: int, text: str) -> BaseModel:
        return CompletionChoice(text=text, index=index, finish_reason=None)

    def final(self, index: int, sequence: SequenceState) -> BaseModel:
        text = self._echoed(index, "".join(sequence.text))
        logprobs = completion_logprobs(sequence.logprobs, 0) if self._logprobs else None
        return CompletionChoice(
            text=text, index=index, logprobs=logprobs, finish_reason=sequence.finish_reason
        )


class _ChatChoices(_Choices):
    chunk_envelope = ChatCompletionChunk
    final_envelope = ChatCompletionResponse

    def __init__(self, body: ChatCompletionRequest) -> None:
        self._logprobs = bool(body.logprobs)

    def chunk(self, index: int, chunk: GenerationChunk, first: bool) -> BaseModel | None:
        if not first and not chunk.text and chunk.finish_reason is None and not chunk.logprobs:
            return None
        delta = ChatDelta(
            role="assistant" if first else None,
            content=chunk.text if chunk.text or first else None,
        )
        logprobs = chat_logprobs(chunk.logprobs or ()) if self._logprobs else None
        return ChatChunkChoice(
            index=index, delta=delta, logprobs=logprobs, finish_reason=chunk.finish_reason
        )

    def text(self, index: int, text: str) -> BaseModel:
        return ChatChunkChoice(index=index, delta=ChatDelta(content=text))

    def final(self, index: int, sequence: SequenceState) -> BaseModel:
        message = ChatMessageOut(content="".join(sequence.text))
        logprobs = chat_logprobs(sequence.logprobs) if self._logprobs else None
        return ChatChoice(
            index=index, message=message, logprobs=logprobs, finish_reason=sequence.finish_reason
        )


async def _respond(
    generation: Generation, body: SamplingFields, reply: _Reply, choices: _Choices
) -> BaseModel | EventStream:
    """Stream the generation as events, or run it to its end and answer one body."""
    if body.stream:
        envelope = choices.chunk_envelope
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        await generation.start()
        events = _events(
            generation,
            _ChunkEvents(reply, envelope, choices.chunk, choices.text),
            (lambda: _event(reply.body(envelope, [], _usage(generation, body.n))))
            if include_usage
            else None,
        )
        return EventStream(events, generation.close)
    async with generation:
        await generation.collect()
    finals = [choices.final(index, s) for index, s in enumerate(generation.sequences)]
    return reply.body(choices.final_envelope, finals, _usage(generation, body.n))


def _usage(generation: Generation, n: int) -> Usage:
    """Prompt tokens count once per prompt (not per sample), as OpenAI bills them."""
    sequences = generation.sequences
    prompt = sum(s.prompt_tokens for s in sequences[::n])
    completion = sum(s.tokens for s in sequences)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _event(body: BaseModel) -> bytes:
    return sse_event(body.model_dump_json())


# Stands in for the text while a template is serialised; random, so no model name or
# id can contain it.
_TEXT_MARK = f"<{uuid.uuid4().hex}>"
_TEXT_MARK_JSON = to_json(_TEXT_MARK)


@dataclass
class _ChunkEvents:
    """Engine chunk -> encoded SSE event, or None for a chunk with nothing to say.

    Most events of a stream differ only in their text. Their JSON is serialised once
    per choice index from the protocol models, with a marker for the text, so each
    token costs one string escape by pydantic-core instead of building and dumping
    three models; first and last chunks, which carry more, take the models' path.
    The bytes are the same either way.
    """

    reply: _Reply
    envelope: type[CompletionResponse | ChatCompletionChunk]
    chunk_choice: ChunkChoice
    text_choice: TextChoice
    templates: dict[int, tuple[bytes, bytes] | None] = field(default_factory=dict, init=False)

    def __call__(self, index: int, chunk: GenerationChunk, first: bool) -> bytes | None:
        if not first and chunk.text and chunk.finish_reason is None and chunk.logprobs is None:
            template = self._template(index)
            if template is not None:
                head, tail = template
                return b"".join((head, to_json(chunk.text), tail))
        choice = self.chunk_choice(index, chunk, first)
        if choice is None:
            return None
        return _event(self.reply.body(self.envelope, [choice]))

    def _template(self, index: int) -> tuple[bytes, bytes] | None:
        if index not in self.templates:
            marked = self.reply.body(self.envelope, [self.text_choice(index, _TEXT_MARK)])
            parts = _event(marked).split(_TEXT_MARK_JSON)
            self.templates[index] = (parts[0], parts[1]) if len(parts) == 2 else None
        return self.templates[index]


async def _events(
    generation: Generation,
    chunk_event: Callable[[int, GenerationChunk, bool], bytes | None],
    usage_event: Callable[[], bytes] | None,
) -> AsyncIterator[bytes]:
    started: set[int] = set()
    async for index, chunk in generation:
        event = chunk_event(index, chunk, index not in started)
        started.add(index)
        if event is not None:
            yield event
    if usage_event is not None:
        yield usage_event()
