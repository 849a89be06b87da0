"""The engine streams of one request's sequences (n samples, lists of prompts) as one.

    streams = MergedStreams(engine, requests, on_chunk)
    await streams.open()            # every sequence has started, or the engine refused
    async for index, chunk in streams: ...      # or: await streams.run_to_end()
    await streams.aclose()          # aborts unfinished sequences inside the engine

Every sequence ends with a finish reason: an engine stream that stops without one
has nothing more to say, and `_stop_after` ends it. `on_chunk` sees every chunk
once, as it arrives.

One sequence (most requests) is read in the caller's task with nothing in between:
pulled by one generator when streamed, which sends the chunks that are ready at once
as one (service/generation/coalesce.py), pushed to `on_chunk` by one loop when the
answer is collected whole (a generator step per token is a measurable share of a
fast engine's request). Several get a task each, pushing into one queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from service.engines.base import Engine, GenerationChunk, GenerationRequest
from service.generation.coalesce import Step, cancel_step, finish_step, take_ready

OnChunk = Callable[[int, GenerationChunk], None]
# (index, chunk) from a sequence's task; (index, None) once, when its engine answered;
# (index, error) if its engine raised.
_Item = tuple[int, GenerationChunk | BaseException | None]


def _stop_after(last: GenerationChunk | None) -> GenerationChunk:
    """The chunk that ends a sequence whose engine stream ended without a finish reason."""
    return GenerationChunk("", 0, last.prompt_tokens if last else 0, "stop")


async def _first_chunk(stream: AsyncIterator[GenerationChunk]) -> GenerationChunk | None:
    """The engine's first chunk (its refusal is raised here), None if it sent none."""
    try:
        return await anext(stream)
    except StopAsyncIteration:
        return None


async def _push(
    index: int,
    stream: AsyncIterator[GenerationChunk],
    first: GenerationChunk | None,
    emit: OnChunk,
) -> None:
    """Hand `first` and the rest of one sequence to `emit`, up to its finish reason."""
    last = first
    if last is not None:
        emit(index, last)
        if last.finish_reason is not None:
            return
        async for last in stream:
            emit(index, last)
            if last.finish_reason is not None:
                return
    emit(index, _stop_after(last))


async def _drain(items: AsyncIterator[object]) -> None:
    async for _ in items:
        pass


async def _close(stream: AsyncIterator[GenerationChunk]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


class MergedStreams:
    def __init__(
        self, engine: Engine, requests: Sequence[GenerationRequest], on_chunk: OnChunk
    ) -> None:
        self._engine = engine
        self._requests = requests
        self._on_chunk = on_chunk
        # One sequence: its engine stream and first chunk.
        self._stream: AsyncIterator[GenerationChunk] | None = None
        self._first: GenerationChunk | None = None
        # Its next step, started by take_ready, while the chunk before it is sent.
        self._pending: Step | None = None
        # Several: a task each, and what they sent while open() waited for the others.
        self._tasks: list[asyncio.Task[None]] = []
        self._queue: asyncio.Queue[_Item] | None = None
        self._early: list[tuple[int, GenerationChunk]] = []

    async def open(self) -> None:
        """Return once every sequence has started; raise what an engine refused with."""
        if len(self._requests) == 1:
            self._stream = self._engine.stream(self._requests[0])
            self._first = await _first_chunk(self._stream)
            return
        self._queue = queue = asyncio.Queue()
        self._tasks = [
            asyncio.ensure_future(self._pump(index, self._engine.stream(request)))
            for index, request in enumerate(self._requests)
        ]
        starting = len(self._tasks)
        while starting:
            index, item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            if item is None:
                starting -= 1
            else:
                self._early.append((index, item))

    async def _pump(self, index: int, stream: AsyncIterator[GenerationChunk]) -> None:
        queue = self._queue
        assert queue is not None
        try:
            first = await _first_chunk(stream)
            queue.put_nowait((index, None))
            await _push(index, stream, first, lambda i, chunk: queue.put_nowait((i, chunk)))
        except Exception as error:
            queue.put_nowait((index, error))
        finally:
            await _close(stream)

    def __aiter__(self) -> AsyncIterator[tuple[int, GenerationChunk]]:
        return self._one() if self._stream is not None else self._several()

    async def _one(self) -> AsyncIterator[tuple[int, GenerationChunk]]:
        stream, on_chunk = self._stream, self._on_chunk
        assert stream is not None
        last = self._first
        while last is not None:
            # What else is ready goes in the same chunk (one event, one write).
            last, pending, error = take_ready(stream, last)
            self._pending = pending
            on_chunk(0, last)
            yield 0, last
            if last.finish_reason is not None:
                return
            if error is not None:
                raise error
            if pending is None:
                break  # ended without a finish reason
            try:
                last = await finish_step(pending)
            except StopAsyncIteration:
                break
            finally:
                self._pending = None
        end = _stop_after(last)
        on_chunk(0, end)
        yield 0, end

    async def _several(self) -> AsyncIterator[tuple[int, GenerationChunk]]:
        queue, on_chunk = self._queue, self._on_chunk
        assert queue is not None
        unfinished = len(self._tasks)
        early, self._early = self._early, []
        for index, chunk in early:
            unfinished -= chunk.finish_reason is not None
            on_chunk(index, chunk)
            yield index, chunk
        while unfinished:
            index, item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            assert item is not None
            unfinished -= item.finish_reason is not None
            on_chunk(index, item)
            yield index, item

    def run_to_end(self) -> Awaitable[None]:
        """Every sequence to its finish reason, each chunk to `on_chunk`, nothing yielded."""
        if self._stream is None:
            return _drain(self._several())
        return _push(0, self._stream, self._first, self._on_chunk)

    async def aclose(self) -> None:
        """Stop every sequence (cancelling its engine request); safe to call twice."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await cancel_step(pending)
        if self._stream is not None:
            await _close(self._stream)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
