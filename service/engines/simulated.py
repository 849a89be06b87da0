"""A deterministic engine that behaves like a continuous-batching GPU engine.

Each sequence takes a slot (at most `max_batch` at once, the rest wait in arrival
order), produces its first token after `ttft_s` and one more every `itl_s`, measured
against absolute deadlines so timings do not drift with event-loop jitter. Text is
a word per token from a generator seeded by the prompt (and `seed`; see
`_sampling_key`), so a greedy or seeded request always gives the same answer.
With zero delays it does almost no work per token: benchmarks use it to measure
what the server itself costs.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from random import Random

from service.engines.base import (
    ChatMessage,
    Engine,
    EngineInfo,
    GenerationChunk,
    GenerationRequest,
    PromptTooLongError,
)
from service.engines.stopping import StopMatcher

DEFAULT_MAX_CONTEXT_TOKENS = 4096
DEFAULT_MODEL_NAME = "simulated"

_WORDS = (
    *("the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "on", "by"),
    *("model", "token", "batch", "engine", "kernel", "cache", "tensor", "graph", "layer"),
)

# Without delays nothing in a sequence awaits; give the loop a turn this often so a
# long generation cannot starve other requests.
_YIELD_EVERY_TOKENS = 64


def count_tokens(text: str) -> int:
    """The simulated tokenizer: one token per whitespace-separated word."""
    return len(text.split())


class SimulatedEngine(Engine):
    def __init__(
        self,
        *,
        ttft_s: float = 0.0,
        itl_s: float = 0.0,
        max_batch: int = 64,
        max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
        load_seconds: float = 0.0,
        model_name: str = DEFAULT_MODEL_NAME,
    ) -> None:
        self._ttft_s = ttft_s
        self._itl_s = itl_s
        self._slots = asyncio.Semaphore(max_batch)
        self._max_context_tokens = max_context_tokens
        self._load_seconds = load_seconds
        self._model_name = model_name
        # Ids of requests cancelled before they finished: lets tests (and the curious)
        # see that a client disconnect reached the engine.
        self.aborted_request_ids: deque[str] = deque(maxlen=1024)
        self.running = 0
        self.shut_down = False

    async def load(self) -> EngineInfo:
        if self._load_seconds:
            await asyncio.sleep(self._load_seconds)
        return EngineInfo(
            model_name=self._model_name,
            max_context_tokens=self._max_context_tokens,
            supports_seed=True,
            extra={"engine": "simulated"},
        )

    def apply_chat_template(self, messages: Sequence[ChatMessage]) -> str:
        lines = [f"<|{m.role}|> {m.content}" for m in messages]
        return "\n".join([*lines, "<|assistant|>"])

    async def shutdown(self) -> None:
        self.shut_down = True

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        prompt_tokens = count_tokens(request.prompt)
        if prompt_tokens > self._max_context_tokens:
            raise PromptTooLongError(prompt_tokens, self._max_context_tokens)
        budget = min(request.max_tokens, self._max_context_tokens - prompt_tokens)
        # Drawn up front: one call instead of one per token keeps the zero-delay path cheap.
        words = Random(zlib.crc32(_sampling_key(request).encode())).choices(_WORDS, k=budget)
        stop = StopMatcher(request.stop)
        loop = asyncio.get_running_loop()
        finished = False
        async with self._slots:
            self.running += 1
            try:
                deadline = loop.time() + self._ttft_s
                delayed = bool(self._ttft_s or self._itl_s)
                if budget <= 0:
                    finished = True
                    yield GenerationChunk("", 0, prompt_tokens, "length")
                    return
                for index in range(budget):
                    if delayed:
                        await asyncio.sleep(max(0.0, deadline - loop.time()))
                        deadline += self._itl_s
                    elif index % _YIELD_EVERY_TOKENS == _YIELD_EVERY_TOKENS - 1:
                        await asyncio.sleep(0)
                    text, stopped = stop.feed(" " + words[index])
                    if stopped:
                        finished = True
                        yield GenerationChunk(text, 1, prompt_tokens, "stop")
                        return
                    if index == budget - 1:
                        finished = True
                        yield GenerationChunk(text + stop.flush(), 1, prompt_tokens, "length")
                        return
                    yield GenerationChunk(text, 1, prompt_tokens)
            finally:
                self.running -= 1
                if not finished:
                    self.aborted_request_ids.append(request.request_id)


def _sampling_key(request: GenerationRequest) -> str:
    """Greedy depends on the prompt alone, a seed makes sampling repeatable, and
    unseeded sampling differs per request, as on a real engine."""
    if request.temperature == 0:
        return request.prompt
    if request.seed is not None:
        return f"{request.seed}:{request.prompt}"
    return f"{request.request_id}:{request.prompt}"
