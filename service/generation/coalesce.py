"""Several chunks of one sequence that are ready at once, sent as one.

A stream's cost is mostly per event (one transport write each, by the profile in
benchmarks/RESULTS.md), so when a sequence has several chunks ready, because the
event loop is behind the engine or the engine queued several steps, they travel as
one chunk: one event, one write, one metrics observation. Nothing is ever waited
for: `take_ready` only takes what the engine stream hands over without suspending,
so a token that is ready alone goes out as soon as it did before.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import AsyncIterator, Generator, Sequence
from typing import Any

from service.engines.base import GenerationChunk


def merged(chunks: Sequence[GenerationChunk]) -> GenerationChunk:
    """One chunk saying what `chunks` say, in order."""
    if len(chunks) == 1:
        return chunks[0]
    last = chunks[-1]
    logprobs = None
    if any(chunk.logprobs is not None for chunk in chunks):
        logprobs = tuple(entry for chunk in chunks for entry in chunk.logprobs or ())
    return GenerationChunk(
        "".join(chunk.text for chunk in chunks),
        sum(chunk.token_count for chunk in chunks),
        last.prompt_tokens,
        last.finish_reason,
        logprobs,
    )


# A stream's step run up to its first suspension: the awaitable and what it yielded.
Step = tuple[Any, Any]


def take_ready(
    stream: AsyncIterator[GenerationChunk], chunk: GenerationChunk
) -> tuple[GenerationChunk, Step | None, Exception | None]:
    """`chunk` merged with every further chunk `stream` has ready now (up to a finish
    reason); then the next step, started, or what the stream raised (to raise once the
    merged chunk is sent); neither if the stream ended.

    Each step of the stream is run by hand up to its first suspension (the first
    `send(None)` a task would give it): one that completes without suspending had its
    chunk ready; one that suspends is handed back half-run, to be awaited with
    `finish_step` in place of a fresh `anext`, or ended with `cancel_step`.
    """
    ready: list[GenerationChunk] | None = None  # only built when a second chunk is ready
    pending: Step | None = None
    error: Exception | None = None
    last = chunk
    while last.finish_reason is None:
        step = stream.__anext__()
        try:
            waiting = step.send(None)  # type: ignore[attr-defined]
        except StopIteration as done:
            last = done.value
            if ready is None:
                ready = [chunk]
            ready.append(last)
            continue
        except StopAsyncIteration:
            pass
        except Exception as raised:
            error = raised
        else:
            pending = (step, waiting)
        break
    return (chunk if ready is None else merged(ready)), pending, error


@types.coroutine
def finish_step(pending: Step) -> Generator[Any, Any, GenerationChunk]:
    """Await the rest of a half-run step: `yield from` it, minus the first send it
    already had. What the task sends or throws goes through unchanged, so the step's
    futures and cancellation behave as if it were awaited directly."""
    step, waiting = pending
    while True:
        try:
            sent = yield waiting
        except GeneratorExit:
            step.close()  # this await itself was closed (its task destroyed)
            raise
        except BaseException as error:
            try:
                waiting = step.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        else:
            try:
                waiting = step.send(sent)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]


async def cancel_step(pending: Step) -> None:
    """End a half-run step as cancelling its task would: the stream's cleanup (an
    engine abort) runs, and the stream is finished rather than left running, which
    would make closing it fail."""
    step, waiting = pending
    if isinstance(waiting, asyncio.Future):
        waiting.cancel()

    @types.coroutine
    def thrown() -> Generator[Any, Any, None]:
        try:
            rest = step.throw(asyncio.CancelledError())
        except BaseException:
            return
        with contextlib.suppress(Exception, asyncio.CancelledError):
            yield from finish_step((step, rest))

    await thrown()
