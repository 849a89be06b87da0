"""/generate: one prompt, one sequence, the request defaults of the settings."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from starlette.responses import Response

from service.engines.base import GenerationRequest
from service.errors import APIError
from service.generation import Generation, max_tokens_for
from service.runtime import Runtime
from service.seed_api.protocol import GenerateRequest, GenerateResponse, GenerateStreamEvent
from service.streaming import SSE_DONE, EventStreamResponse, sse_error, sse_event


class GenerateServing:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def generate(self, body: GenerateRequest, request_id: str) -> Response:
        settings = self._runtime.settings
        request = GenerationRequest(
            request_id=request_id,
            prompt=body.prompt,
            max_tokens=max_tokens_for(self._runtime, body.max_tokens),
            temperature=body.temperature if body.temperature is not None else settings.temperature,
            top_p=body.top_p if body.top_p is not None else settings.top_p,
        )
        generation = Generation(self._runtime, [request], prompt_param="prompt")
        await generation.start()
        if body.stream:
            events = self._events(generation)
            return EventStreamResponse(events, generation.close, generation.cut_off)
        try:
            await generation.collect()
        finally:
            await generation.close()
        sequence = generation.sequences[0]
        response = GenerateResponse(
            text="".join(sequence.text),
            tokens_used=sequence.tokens,
            latency_ms=_elapsed_ms(generation),
        )
        return Response(response.model_dump_json(), media_type="application/json")

    async def _events(self, generation: Generation) -> AsyncIterator[bytes]:
        try:
            async for _, chunk in generation:
                event = GenerateStreamEvent(
                    text=chunk.text,
                    tokens_used=generation.sequences[0].tokens,
                    finish_reason=chunk.finish_reason,
                    latency_ms=_elapsed_ms(generation) if chunk.finish_reason else None,
                )
                yield sse_event(event.model_dump_json())
        except APIError as error:
            yield sse_error(error)
        finally:
            await generation.close()
        yield SSE_DONE


def _elapsed_ms(generation: Generation) -> float:
    return round((time.perf_counter() - generation.arrival) * 1000, 3)
