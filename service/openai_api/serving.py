"""OpenAI completions and chat: requests -> engine sequences -> JSON or SSE events."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence

from starlette.responses import Response

from service.engines.base import ChatMessage, EngineError, GenerationChunk, GenerationRequest
from service.errors import APIError
from service.generation import Generation, require_ready
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
from service.streaming import SSE_DONE, EventStreamResponse, sse_error, sse_event

OWNED_BY = "tensorrt-llm-k8s"


def _json_response(body: CompletionResponse | ChatCompletionResponse | ModelList) -> Response:
    # Serialised by pydantic-core in one call: the hot path of non-streamed requests.
    return Response(body.model_dump_json(), media_type="application/json")


class OpenAIServing:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def models(self) -> Response:
        require_ready(self._runtime)
        card = ModelCard(
            id=self._runtime.model_name, created=self._runtime.created_at, owned_by=OWNED_BY
        )
        return _json_response(ModelList(data=[card]))

    def _engine_requests(
        self, body: SamplingFields, prompts: Sequence[str], request_id: str, max_tokens: int | None
    ) -> list[GenerationRequest]:
        """Check what only the loaded engine knows, then fan out prompts x n."""
        require_ready(self._runtime)
        runtime = self._runtime
        if body.model is not None and body.model != runtime.model_name:
            raise APIError(
                404,
                f"model {body.model!r} does not exist; this server serves {runtime.model_name!r}",
                code="model_not_found",
                param="model",
            )
        info = runtime.info
        limit = info.max_context_tokens if info else None
        tokens = max_tokens or runtime.settings.max_tokens
        if limit is not None and tokens > limit:
            raise APIError(
                400,
                f"max_tokens: {tokens} is more than this model's context ({limit} tokens)",
                code="invalid_value",
                param="max_tokens",
            )
        if body.seed is not None and info is not None and not info.supports_seed:
            raise APIError(400, "seed: not supported by this engine", param="seed")
        temperature = (
            body.temperature if body.temperature is not None else runtime.settings.temperature
        )
        top_p = body.top_p if body.top_p is not None else runtime.settings.top_p
        total = len(prompts) * body.n
        return [
            GenerationRequest(
                request_id=request_id if total == 1 else f"{request_id}-{index}",
                prompt=prompts[index // body.n],
                max_tokens=tokens,
                temperature=temperature,
                top_p=top_p,
                stop=tuple(body.stop_list),
                # n samples of one prompt must differ even with a seed.
                seed=None if body.seed is None else body.seed + index % body.n,
            )
            for index in range(total)
        ]

    # --- /v1/completions

    async def create_completion(self, body: CompletionRequest, request_id: str) -> Response:
        prompts = body.prompts
        requests = self._engine_requests(body, prompts, request_id, body.max_tokens)
        generation = Generation(self._runtime, requests, prompt_param="prompt")
        await generation.start()
        response_id = f"cmpl-{request_id}"
        created = int(time.time())
        model = self._runtime.model_name
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)

            def chunk_event(index: int, chunk: GenerationChunk, first: bool) -> bytes | None:
                text = chunk.text
                if first and body.echo:
                    text = prompts[index // body.n] + text
                if not text and chunk.finish_reason is None:
                    return None
                choice = CompletionChoice(text=text, index=index, finish_reason=chunk.finish_reason)
                return sse_event(
                    CompletionResponse(
                        id=response_id, created=created, model=model, choices=[choice]
                    ).model_dump_json()
                )

            def usage_event() -> bytes:
                return sse_event(
                    CompletionResponse(
                        id=response_id,
                        created=created,
                        model=model,
                        choices=[],
                        usage=_usage(generation, body.n),
                    ).model_dump_json()
                )

            return _event_stream(generation, chunk_event, usage_event if include_usage else None)
        try:
            await generation.collect()
        finally:
            await generation.close()
        choices = [
            CompletionChoice(
                text=(prompts[index // body.n] if body.echo else "") + "".join(sequence.text),
                index=index,
                finish_reason=sequence.finish_reason,
            )
            for index, sequence in enumerate(generation.sequences)
        ]
        return _json_response(
            CompletionResponse(
                id=response_id,
                created=created,
                model=model,
                choices=choices,
                usage=_usage(generation, body.n),
            )
        )

    # --- /v1/chat/completions

    async def create_chat_completion(
        self, body: ChatCompletionRequest, request_id: str
    ) -> Response:
        require_ready(self._runtime)
        messages = [ChatMessage(role=m.role, content=m.text) for m in body.messages]
        try:
            prompt = self._runtime.engine.apply_chat_template(messages)
        except EngineError as error:
            raise APIError(400, f"messages: {error}", param="messages") from None
        requests = self._engine_requests(body, [prompt], request_id, body.token_limit)
        generation = Generation(self._runtime, requests, prompt_param="messages")
        await generation.start()
        response_id = f"chatcmpl-{request_id}"
        created = int(time.time())
        model = self._runtime.model_name
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)

            def chunk_event(index: int, chunk: GenerationChunk, first: bool) -> bytes | None:
                if not first and not chunk.text and chunk.finish_reason is None:
                    return None
                delta = ChatDelta(
                    role="assistant" if first else None,
                    content=chunk.text if chunk.text or first else None,
                )
                choice = ChatChunkChoice(
                    index=index, delta=delta, finish_reason=chunk.finish_reason
                )
                return sse_event(
                    ChatCompletionChunk(
                        id=response_id, created=created, model=model, choices=[choice]
                    ).model_dump_json()
                )

            def usage_event() -> bytes:
                return sse_event(
                    ChatCompletionChunk(
                        id=response_id,
                        created=created,
                        model=model,
                        choices=[],
                        usage=_usage(generation, body.n),
                    ).model_dump_json()
                )

            return _event_stream(generation, chunk_event, usage_event if include_usage else None)
        try:
            await generation.collect()
        finally:
            await generation.close()
        choices = [
            ChatChoice(
                index=index,
                message=ChatMessageOut(content="".join(sequence.text)),
                finish_reason=sequence.finish_reason,
            )
            for index, sequence in enumerate(generation.sequences)
        ]
        return _json_response(
            ChatCompletionResponse(
                id=response_id,
                created=created,
                model=model,
                choices=choices,
                usage=_usage(generation, body.n),
            )
        )


def _usage(generation: Generation, n: int) -> Usage:
    """Prompt tokens count once per prompt (not per sample), as OpenAI bills them."""
    sequences = generation.sequences
    prompt = sum(s.prompt_tokens for s in sequences[::n])
    completion = sum(s.tokens for s in sequences)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _event_stream(
    generation: Generation,
    chunk_event: Callable[[int, GenerationChunk, bool], bytes | None],
    usage_event: Callable[[], bytes] | None,
) -> EventStreamResponse:
    async def events() -> AsyncIterator[bytes]:
        started: set[int] = set()
        try:
            async for index, chunk in generation:
                event = chunk_event(index, chunk, index not in started)
                started.add(index)
                if event is not None:
                    yield event
            if usage_event is not None:
                yield usage_event()
        except APIError as error:
            # Headers are gone: the error travels as an event, then the stream ends.
            yield sse_error(error)
        finally:
            await generation.close()
        yield SSE_DONE

    return EventStreamResponse(events(), generation.close, generation.cut_off)
