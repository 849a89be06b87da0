"""/generate: one prompt, one sequence, the request defaults of the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

from service.generation import Generation
from service.generation.sampling import engine_requests
from service.runtime import Runtime
from service.seed_api.protocol import GenerateRequest, GenerateResponse, GenerateStreamEvent
from service.streaming import EventStream, sse_event


class GenerateServing:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def generate(
        self, body: GenerateRequest, request_id: str
    ) -> GenerateResponse | EventStream:
        self._runtime.require_ready()
        requests = engine_requests(
            self._runtime, request_id, [body.prompt], body, max_tokens=body.max_tokens
        )
        generation = Generation(self._runtime, requests, prompt_param="prompt")
        if body.stream:
            await generation.start()
            return EventStream(_events(generation), generation.close)
        async with generation:
            await generation.collect()
        sequence = generation.sequences[0]
        return GenerateResponse(
            text="".join(sequence.text),
            tokens_used=sequence.tokens,
            latency_ms=generation.record.elapsed_ms(),
        )


async def _events(generation: Generation) -> AsyncIterator[bytes]:
    sequence = generation.sequences[0]
    async for _, chunk in generation:
        event = GenerateStreamEvent(
            text=chunk.text,
            tokens_used=sequence.tokens,
            finish_reason=chunk.finish_reason,
            latency_ms=generation.record.elapsed_ms() if chunk.finish_reason else None,
        )
        yield sse_event(event.model_dump_json())
