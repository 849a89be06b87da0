"""Reading one sequence through MergedStreams (as the server does) with the reader
busy for a while after the first chunk, so the engine's later chunks pile up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from service.engines.base import Engine, GenerationChunk, GenerationRequest
from service.generation.merge import MergedStreams


async def read_pausing_after_first(
    engine: Engine,
    request: GenerationRequest,
    pause: Callable[[], Awaitable[None] | None],
    on_chunk: Callable[[int, GenerationChunk], None] = lambda *_: None,
) -> list[GenerationChunk]:
    streams = MergedStreams(engine, [request], on_chunk)
    await streams.open()
    chunks: list[GenerationChunk] = []
    try:
        async for _, chunk in streams:
            chunks.append(chunk)
            if len(chunks) == 1:
                paused = pause()
                if paused is not None:
                    await paused
    finally:
        await streams.aclose()
    return chunks
