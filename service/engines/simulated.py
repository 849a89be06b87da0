"""A deterministic engine that behaves like a continuous-batching GPU engine.

Each sequence takes a slot (at most `max_batch` at once, the rest wait in arrival
order), produces its first token after `ttft_s` and one more every `itl_s`, measured
against absolute deadlines so timings do not drift with event-loop jitter, and kept by
a clock thread (`_Clock`) precise to well under a millisecond, as a GPU engine's own
thread would be. Text is
a short word per token from a generator seeded by the prompt (and `seed`; see
`_sampling_key`), so a greedy or seeded request always gives the same answer.
With zero delays it does almost no work per token: benchmarks use it to measure
what the server itself costs.

Log-probabilities are synthetic and fixed, so the API path can be checked end to end:
the sampled word always has probability 1/2 and is the likeliest; its alternatives
are the words after it in the vocabulary (wrapping round), the i-th with 2^-(i+1).

Its KV cache is a block pool scheduled like TensorRT-LLM's default capacity scheduler
(GUARANTEED_NO_EVICT): a sequence starts only when blocks for its prompt and its whole
token budget are free, and holds as many blocks as its tokens fill; so the KV-cache
gauges and the engine's own queue move with load as on a GPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import math
import threading
import time
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
    KvCacheStats,
    PromptTooLongError,
    TokenLogprob,
)
from service.engines.stopping import StopMatcher

DEFAULT_MAX_CONTEXT_TOKENS = 4096
DEFAULT_MODEL_NAME = "simulated"
# TensorRT-LLM's KvCacheConfig.tokens_per_block default.
TOKENS_PER_BLOCK = 32

# Each word is one token under `count_tokens` (at most CHARS_PER_TOKEN characters), so
# the text a request gets back counts as the completion tokens its usage reports.
_WORDS = (
    *("the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "on", "by"),
    *("gpu", "warp", "core", "page", "node", "pod", "rank", "step", "head", "beam"),
)

# Tokens that are due at once (no delays, or the loop behind them) are produced without
# awaiting; give the loop a turn this often so a long generation cannot starve others.
_YIELD_EVERY_TOKENS = 64


# How long the clock thread idles with nothing to wake before it ends (a later
# sleeper starts a new one), so a test's engines leave no thread behind for long.
_CLOCK_IDLE_EXIT_S = 1.0


class _Clock:
    """Wakes sleepers at absolute `time.monotonic()` deadlines, from a thread.

    The event loop's own timers have millisecond resolution (libuv's clock, which
    uvloop uses, counts whole milliseconds and is read once per loop turn), so a
    token due every 10 ms would arrive up to a millisecond late, at random: a
    simulated engine jittering by 10% by itself, which a benchmark would then charge
    to the server. A real engine produces tokens on its own thread and hands them to
    the loop with call_soon_threadsafe; this clock does the same, and a thread's
    timed wait is precise to tens of microseconds.
    """

    def __init__(self) -> None:
        self._due: list[tuple[float, int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._changed = threading.Condition()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= time.monotonic():
            await asyncio.sleep(0)  # behind time: still let others run between tokens
            return
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        with self._changed:
            heapq.heappush(self._due, (deadline, next(self._order), loop, woken))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="simulated-clock", daemon=True
                )
                self._thread.start()
            elif self._due[0][3] is woken:
                # Only a new earliest deadline changes what the thread waits for; waking
                # it for every token would cost a thread switch each.
                self._changed.notify()
        await woken

    def _run(self) -> None:
        with self._changed:
            while True:
                if not self._due:
                    if not self._changed.wait(_CLOCK_IDLE_EXIT_S) and not self._due:
                        self._thread = None
                        return
                    continue
                now = time.monotonic()
                if self._due[0][0] > now:
                    self._changed.wait(self._due[0][0] - now)
                    continue
                ready: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
                while self._due and self._due[0][0] <= now:
                    _, _, loop, woken = heapq.heappop(self._due)
                    ready.setdefault(loop, []).append(woken)
                for loop, futures in ready.items():
                    # A closed loop raises RuntimeError: nobody is waiting there any more.
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(_wake, futures)


def _wake(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # a cancelled sleeper (an aborted request)
            future.set_result(None)


_CLOCK = _Clock()


CHARS_PER_TOKEN = 4


class _BlockPool:
    """KV-cache blocks: reserved for a sequence's whole budget when it is scheduled,
    filled as its tokens are, all returned when it ends."""

    def __init__(self, max_blocks: int, tokens_per_block: int) -> None:
        self.max_blocks = max_blocks
        self.tokens_per_block = tokens_per_block
        self.reserved = 0
        self.used = 0
        self._freed = asyncio.Event()

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.tokens_per_block)

    async def reserve(self, blocks: int) -> None:
        while self.reserved + blocks > self.max_blocks:
            self._freed.clear()
            await self._freed.wait()
        self.reserved += blocks

    def release(self, reserved: int, used: int) -> None:
        # Synchronous: it runs in `finally` of cancelled streams, where awaiting could
        # be interrupted and leak the blocks.
        self.reserved -= reserved
        self.used -= used
        self._freed.set()


def count_tokens(text: str) -> int:
    """The simulated tokenizer: about CHARS_PER_TOKEN characters a token, as BPE
    tokenizers average on English, and at least one token per whitespace-separated
    word; so a long prompt without spaces is as many tokens as on a real model, and
    context limits refuse it as they would on a GPU."""
    return sum(-(-len(word) // CHARS_PER_TOKEN) for word in text.split())


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
        kv_cache_blocks: int | None = None,
    ) -> None:
        self._ttft_s = ttft_s
        self._itl_s = itl_s
        self._slots = asyncio.Semaphore(max_batch)
        # By default the pool holds max_batch full-context sequences, so slots, not
        # blocks, limit the batch; a smaller pool makes long sequences queue for blocks.
        full_context = -(-max_context_tokens // TOKENS_PER_BLOCK)
        self._pool = _BlockPool(kv_cache_blocks or max_batch * full_context, TOKENS_PER_BLOCK)
        self._queued = 0
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
            optional_parameters=frozenset({"logprobs"}),
            extra={"engine": "simulated"},
        )

    def apply_chat_template(self, messages: Sequence[ChatMessage]) -> str:
        lines = [f"<|{m.role}|> {m.content}" for m in messages]
        return "\n".join([*lines, "<|assistant|>"])

    async def shutdown(self) -> None:
        self.shut_down = True

    def queued_requests(self) -> int:
        return self._queued

    def kv_cache(self) -> KvCacheStats:
        pool = self._pool
        return KvCacheStats(pool.used, pool.max_blocks, pool.tokens_per_block)

    @contextlib.asynccontextmanager
    async def _scheduled(self, blocks: int) -> AsyncIterator[None]:
        """Wait (in the engine's queue) for a slot and the blocks, hold them, return them."""
        self._queued += 1
        try:
            await self._slots.acquire()
            try:
                await self._pool.reserve(blocks)
            except BaseException:
                self._slots.release()
                raise
        finally:
            self._queued -= 1
        try:
            yield
        finally:
            self._slots.release()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        prompt_tokens = count_tokens(request.prompt)
        if prompt_tokens > self._max_context_tokens:
            raise PromptTooLongError(prompt_tokens, self._max_context_tokens)
        budget = min(request.max_tokens, self._max_context_tokens - prompt_tokens)
        # Drawn up front: one call instead of one per token keeps the zero-delay path cheap.
        words = Random(zlib.crc32(_sampling_key(request).encode())).choices(_WORDS, k=budget)
        stop = StopMatcher(request.stop)
        alternatives = request.logprobs
        finished = False
        pool = self._pool
        reserved = min(pool.blocks_for(prompt_tokens + budget), pool.max_blocks)
        async with self._scheduled(reserved):
            self.running += 1
            # Blocks holding tokens: the prompt's now, one more each time generation
            # fills the last (never past the reservation).
            held = min(pool.blocks_for(prompt_tokens), reserved)
            pool.used += held
            room = held * pool.tokens_per_block - prompt_tokens
            try:
                deadline = time.monotonic() + self._ttft_s
                delayed = bool(self._ttft_s or self._itl_s)
                if budget <= 0:
                    finished = True
                    yield GenerationChunk("", 0, prompt_tokens, "length")
                    return
                for index in range(budget):
                    # Tokens already due (the loop is behind) are ready at once, as
                    # a GPU engine's queued steps would be: the server may send them
                    # together.
                    if delayed and deadline > time.monotonic():
                        await _CLOCK.sleep_until(deadline)
                    elif index % _YIELD_EVERY_TOKENS == _YIELD_EVERY_TOKENS - 1:
                        await asyncio.sleep(0)
                    deadline += self._itl_s
                    if index >= room and held < reserved:
                        held += 1
                        pool.used += 1
                        room += pool.tokens_per_block
                    text, stopped = stop.feed(" " + words[index])
                    logprobs = None
                    if alternatives is not None:
                        logprobs = (synthetic_logprob(words[index], alternatives),)
                    if stopped:
                        finished = True
                        yield GenerationChunk(text, 1, prompt_tokens, "stop", logprobs)
                        return
                    if index == budget - 1:
                        finished = True
                        text += stop.flush()
                        yield GenerationChunk(text, 1, prompt_tokens, "length", logprobs)
                        return
                    if logprobs is None:
                        yield _token_chunk(text, prompt_tokens)
                    else:
                        yield GenerationChunk(text, 1, prompt_tokens, logprobs=logprobs)
            finally:
                self.running -= 1
                pool.release(reserved, held)
                if not finished:
                    self.aborted_request_ids.append(request.request_id)


@functools.lru_cache(maxsize=4096)
def _token_chunk(text: str, prompt_tokens: int) -> GenerationChunk:
    """A mid-stream chunk of one token. Chunks are immutable and the text comes from a
    small vocabulary, so they are shared instead of built per token: building a frozen
    dataclass is about half of what a zero-delay token costs."""
    return GenerationChunk(text, 1, prompt_tokens)


@functools.lru_cache(maxsize=1024)
def synthetic_logprob(word: str, alternatives: int) -> TokenLogprob:
    """The fixed distribution at every position (see the module docstring)."""
    start = _WORDS.index(word)
    top = tuple(
        TokenLogprob(" " + _WORDS[(start + rank) % len(_WORDS)], -(rank + 1) * math.log(2))
        for rank in range(min(alternatives, len(_WORDS)))
    )
    return TokenLogprob(" " + word, -math.log(2), top)


def _sampling_key(request: GenerationRequest) -> str:
    """Greedy depends on the prompt alone, a seed makes sampling repeatable, and
    unseeded sampling differs per request, as on a real engine."""
    if request.temperature == 0:
        return request.prompt
    if request.seed is not None:
        return f"{request.seed}:{request.prompt}"
    return f"{request.request_id}:{request.prompt}"
