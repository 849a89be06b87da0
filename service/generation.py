"""One HTTP request's trip through admission and the engine, with its metrics.

Both APIs (OpenAI and the seed's /generate) go through `Generation`:

    generation = Generation(runtime, requests, prompt_param="prompt")
    await generation.start()        # 503 / 429 / 400 raised here, before any byte is sent
    try:
        async for index, chunk in generation: ...
    finally:
        await generation.close()    # aborts unfinished sequences, frees the slot

`start()` waits for every sequence's first chunk, so a prompt the engine refuses is
a clean 400 even for streaming requests rather than an error inside a 200 stream.
One request holds one admission slot however many sequences (n, prompt lists) it has.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from service.admission import QueueFullError
from service.engines.base import (
    EngineError,
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    InvalidRequestError,
    PromptTooLongError,
)
from service.errors import APIError
from service.metric_names import (
    REJECT_DRAINING,
    REJECT_NOT_READY,
    REJECT_PROMPT_TOO_LONG,
    REJECT_QUEUE_FULL,
)
from service.runtime import Runtime

logger = logging.getLogger("service.generation")

# Seconds a refused client should wait; short, as slots free up within a generation.
RETRY_AFTER_SECONDS = 1


def require_ready(runtime: Runtime) -> None:
    """Raise 503 unless the engine is loaded and the server is not draining."""
    if runtime.phase == "ready":
        return
    if runtime.phase == "draining":
        runtime.metrics.rejected.labels(REJECT_DRAINING).inc()
        raise APIError(503, "server is shutting down", code="draining")
    runtime.metrics.rejected.labels(REJECT_NOT_READY).inc()
    message = "model is loading" if runtime.phase == "loading" else "model failed to load"
    raise APIError(503, message, code="model_not_ready", headers={"Retry-After": "5"})


def max_tokens_for(runtime: Runtime, requested: int | None) -> int:
    """The request's max_tokens (MAX_TOKENS if unset); 400 if it cannot fit the context."""
    tokens = requested or runtime.settings.max_tokens
    limit = runtime.info.max_context_tokens if runtime.info else None
    if limit is not None and tokens > limit:
        raise APIError(
            400,
            f"max_tokens: {tokens} is more than this model's context ({limit} tokens)",
            code="invalid_value",
            param="max_tokens",
        )
    return tokens


@dataclass
class SequenceState:
    """What one sequence produced so far."""

    text: list[str] = field(default_factory=list)
    tokens: int = 0
    prompt_tokens: int = 0
    finish_reason: FinishReason | None = None
    last_token_at: float | None = None


class Generation:
    def __init__(
        self,
        runtime: Runtime,
        requests: Sequence[GenerationRequest],
        *,
        prompt_param: str,
    ) -> None:
        self._runtime = runtime
        self._metrics = runtime.metrics
        self._requests = requests
        self._prompt_param = prompt_param
        self.arrival = time.perf_counter()
        self.sequences = [SequenceState() for _ in requests]
        self._admitted = False
        self._closed = False
        # One sequence: iterate the engine directly. Several: one task each, into a queue.
        self._stream: AsyncIterator[GenerationChunk] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._queue: asyncio.Queue[tuple[int, GenerationChunk | BaseException]] | None = None
        self._buffered: list[tuple[int, GenerationChunk]] = []

    @property
    def cut_off(self) -> asyncio.Future[None] | None:
        return self._runtime.cut_off

    @property
    def finished(self) -> bool:
        return all(s.finish_reason is not None for s in self.sequences)

    async def start(self) -> None:
        require_ready(self._runtime)
        try:
            await self._runtime.admission.acquire()
        except QueueFullError:
            self._runtime.metrics.rejected.labels(REJECT_QUEUE_FULL).inc()
            raise APIError(
                429,
                "too many requests in flight; retry later",
                code="queue_full",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None
        self._admitted = True
        try:
            await self._open()
        except BaseException as error:
            await self.close()
            if isinstance(error, Exception):
                raise self._to_api_error(error) from None
            raise

    async def _open(self) -> None:
        engine = self._runtime.engine
        if len(self._requests) == 1:
            self._stream = engine.stream(self._requests[0])
            self._buffered.append((0, await anext(self._stream)))
            return
        self._queue = queue = asyncio.Queue()
        self._tasks = [
            asyncio.ensure_future(self._pump(queue, index, engine.stream(request)))
            for index, request in enumerate(self._requests)
        ]
        pending = set(range(len(self._requests)))
        while pending:
            index, item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            pending.discard(index)
            self._buffered.append((index, item))

    @staticmethod
    async def _pump(
        queue: asyncio.Queue[tuple[int, GenerationChunk | BaseException]],
        index: int,
        stream: AsyncIterator[GenerationChunk],
    ) -> None:
        last: GenerationChunk | None = None
        try:
            async for last in stream:
                queue.put_nowait((index, last))
            if last is None or last.finish_reason is None:
                # An engine that ends without a finish reason has nothing more to say.
                prompt_tokens = last.prompt_tokens if last else 0
                queue.put_nowait((index, GenerationChunk("", 0, prompt_tokens, "stop")))
        except Exception as error:
            queue.put_nowait((index, error))
        finally:
            await _close_stream(stream)

    def _to_api_error(self, error: Exception) -> APIError:
        if isinstance(error, APIError):
            return error
        if isinstance(error, PromptTooLongError):
            self._runtime.metrics.rejected.labels(REJECT_PROMPT_TOO_LONG).inc()
            return APIError(
                400, str(error), code="context_length_exceeded", param=self._prompt_param
            )
        if isinstance(error, InvalidRequestError):
            return APIError(400, str(error), code="invalid_request")
        if isinstance(error, EngineError):
            return APIError(500, f"engine error: {error}", code="engine_error")
        if isinstance(error, StopAsyncIteration):
            return APIError(500, "engine returned no output", code="engine_error")
        logger.error("generation failed to start", exc_info=error)
        return APIError(500, "internal error", code="internal_error")

    async def __aiter__(self) -> AsyncIterator[tuple[int, GenerationChunk]]:
        """Chunks of all sequences as they come; engine errors surface as APIError."""
        for index, chunk in self._buffered:
            yield index, self._account(index, chunk)
        self._buffered.clear()
        with _EngineErrors(self.sequences):
            if self._stream is not None:
                finish = self.sequences[0].finish_reason
                while finish is None:
                    try:
                        chunk = await anext(self._stream)
                    except StopAsyncIteration:
                        # An engine that ends without a finish reason has nothing more
                        # to say; streamed clients still get a chunk that says so.
                        prompt_tokens = self.sequences[0].prompt_tokens
                        chunk = GenerationChunk("", 0, prompt_tokens, "stop")
                    finish = chunk.finish_reason
                    yield 0, self._account(0, chunk)
            else:
                queue = self._queue
                assert queue is not None
                while not self.finished:
                    index, item = await queue.get()
                    if isinstance(item, BaseException):
                        raise item
                    yield index, self._account(index, item)

    async def collect(self) -> None:
        """Run every sequence to its end, for non-streamed responses.

        Same accounting as iterating, minus one generator hop per token: with a fast
        engine the per-token path is most of what the server costs.
        """
        if self._stream is None:
            async for _ in self:
                pass
            return
        for index, chunk in self._buffered:
            self._account(index, chunk)
        self._buffered.clear()
        if self.sequences[0].finish_reason is not None:
            return
        account = self._account
        with _EngineErrors(self.sequences):
            async for chunk in self._stream:
                account(0, chunk)
                if chunk.finish_reason is not None:
                    return
            # An engine that ends without a finish reason has nothing more to say.
            self.sequences[0].finish_reason = "stop"

    def _account(self, index: int, chunk: GenerationChunk) -> GenerationChunk:
        sequence = self.sequences[index]
        if chunk.token_count:
            now = time.perf_counter()
            if sequence.last_token_at is None:
                self._metrics.ttft.observe(now - self.arrival)
            else:
                self._metrics.itl.observe(now - sequence.last_token_at)
            sequence.last_token_at = now
            sequence.tokens += chunk.token_count
        sequence.text.append(chunk.text)
        sequence.prompt_tokens = chunk.prompt_tokens
        if chunk.finish_reason is not None:
            sequence.finish_reason = chunk.finish_reason
        return chunk

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._stream is not None:
                await _close_stream(self._stream)
            if self._tasks:
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            if self._admitted:
                self._runtime.admission.release()
            self._record()

    def _record(self) -> None:
        metrics = self._runtime.metrics
        generated = sum(s.tokens for s in self.sequences)
        if generated:
            metrics.generation_tokens.inc(generated)
        prompt = sum(s.prompt_tokens for s in self.sequences if s.finish_reason)
        if prompt:
            metrics.prompt_tokens.inc(prompt)
        if self._admitted and self.finished:
            metrics.e2e_latency.observe(time.perf_counter() - self.arrival)


class _EngineErrors:
    """Maps what an engine raises mid-generation to the API's errors."""

    def __init__(self, sequences: list[SequenceState]) -> None:
        self._sequences = sequences

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> bool:
        if error is None or not isinstance(error, Exception) or isinstance(error, APIError):
            return False
        if isinstance(error, EngineError):
            logger.warning("engine failed mid-generation: %s", error)
            raise APIError(500, f"engine error: {error}", code="engine_error") from None
        logger.error("generation failed", exc_info=error)
        raise APIError(500, "internal error", code="internal_error") from None


async def _close_stream(stream: AsyncIterator[GenerationChunk]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()
