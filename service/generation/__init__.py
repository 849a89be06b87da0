"""One generation request's trip: an admission slot, its sequences' engine streams, and
its metrics. Both APIs (OpenAI and the seed's /generate) go through `Generation`:

    generation = Generation(runtime, requests, prompt_param="prompt")
    await generation.start()        # 429 / 400 raised here, before any byte is sent
    try:
        async for index, chunk in generation: ...   # what the engine raises mid-way is
    finally:                                        # the caller's to map (to_api_error)
        await generation.close()    # aborts unfinished sequences, frees the slot

or, for an answer collected whole, `async with generation: await generation.collect()`.

`start()` waits for every sequence's first chunk, so a prompt the engine refuses is
a clean 400 even for streaming requests rather than an error inside a 200 stream.
A request's slot holds one admission place per sequence (prompts x n): fan-out
queues as the single requests it stands for would. Readiness is checked before
this, once per request, by serving (`Runtime.require_ready`): the request's model
and limits are checked in between.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import TracebackType

from service.admission import Slot
from service.engines.base import GenerationChunk, GenerationRequest
from service.errors import to_api_error
from service.generation.merge import MergedStreams
from service.generation.record import RequestMetrics, SequenceState
from service.runtime import Runtime

__all__ = ["Generation", "SequenceState"]


class Generation:
    def __init__(
        self,
        runtime: Runtime,
        requests: Sequence[GenerationRequest],
        *,
        prompt_param: str,
    ) -> None:
        self._runtime = runtime
        self._requests = requests
        self._prompt_param = prompt_param
        self.record = RequestMetrics(runtime.metrics, len(requests))
        self._slot: Slot | None = None
        self._streams: MergedStreams | None = None
        self._closed = False

    @property
    def sequences(self) -> list[SequenceState]:
        return self.record.sequences

    async def start(self) -> None:
        """Take an admission slot and start every sequence; raise the APIError that
        refuses the request (queue full, prompt too long, engine refusal)."""
        try:
            self._slot = await self._runtime.admission.admit(len(self._requests))
            engine = self._runtime.engine
            self._streams = MergedStreams(engine, self._requests, self.record.account)
            await self._streams.open()
        except BaseException as error:
            await self.close()
            if isinstance(error, Exception):
                self.record.refused(error)
                raise to_api_error(error, prompt_param=self._prompt_param) from None
            raise

    def __aiter__(self) -> AsyncIterator[tuple[int, GenerationChunk]]:
        """Chunks of all sequences as they come, each sequence ending with a finish reason."""
        assert self._streams is not None, "start() first"
        return self._streams.__aiter__()

    async def collect(self) -> None:
        """Run every sequence to its end, for answers that are not streamed."""
        assert self._streams is not None, "start() first"
        try:
            await self._streams.run_to_end()
        except Exception as error:
            raise to_api_error(error, prompt_param=self._prompt_param) from None

    async def close(self) -> None:
        """Abort what is unfinished, free the slot, record the metrics; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._streams is not None:
                await self._streams.aclose()
        finally:
            if self._slot is not None:
                self._slot.release()
            self.record.end(admitted=self._slot is not None)

    async def __aenter__(self) -> Generation:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> None:
        await self.close()
