"""Drive load: closed loop (N users, each sending M requests back to back) or open
loop (Poisson arrivals at R requests/s). Every run is bounded by a request count
and/or a duration, and every request by its timeout, so a run always ends.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from benchmarks.load.client import PATHS, Mode, RequestResult, build_body, resolve_model, send

OnResult = Callable[[RequestResult], None]


@dataclass(frozen=True)
class LoadConfig:
    base_url: str
    mode: Mode
    stream: bool
    max_tokens: int
    prompts: Sequence[str]
    timeout_s: float
    api_key: str | None = None
    model: str | None = None
    users: int = 1
    requests_per_user: int | None = 1
    rate: float | None = None
    num_requests: int | None = None
    duration_s: float | None = None
    seed: int = 0
    warmup_per_user: int = 0
    ramp_up_s: float = 0.0

    @property
    def expected_requests(self) -> int | None:
        """How many requests the run sends, when a count bounds it."""
        if self.rate is not None:
            return self.num_requests
        if self.requests_per_user is None:
            return None
        return self.users * self.requests_per_user


@dataclass
class RunOutcome:
    results: list[RequestResult]
    wall_s: float
    interrupted: bool


class LoadRun:
    """One bounded run; `stop()` (e.g. on Ctrl-C) ends it early, keeping results."""

    def __init__(self, config: LoadConfig, on_result: OnResult | None = None) -> None:
        self.config = config
        self.results: list[RequestResult] = []
        self._on_result = on_result
        self._stopping = asyncio.Event()
        self._interrupted = False
        # When the measured phase began (after any warm-up); wall time counts from here.
        self._start: float | None = None

    def stop(self) -> None:
        self._interrupted = True
        self._stopping.set()

    async def execute(self) -> RunOutcome:
        cfg = self.config
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            model = cfg.model
            if model is None and cfg.mode != "generate":
                model = await resolve_model(session, cfg.base_url, cfg.api_key, cfg.timeout_s)
            driver = self._open_loop if cfg.rate is not None else self._closed_loop
            main = asyncio.ensure_future(driver(session, model))
            stopper = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not main.done():
                # Interrupted: in-flight requests are cancelled and not counted, so the
                # figures describe only requests that finished.
                main.cancel()
                await asyncio.gather(main, return_exceptions=True)
            stopper.cancel()
            wall = time.perf_counter() - self._start if self._start is not None else 0.0
        return RunOutcome(list(self.results), wall, self._interrupted)

    def _record(self, result: RequestResult) -> None:
        self.results.append(result)
        if self._on_result is not None:
            self._on_result(result)

    def _deadline_passed(self, start: float) -> bool:
        duration = self.config.duration_s
        return duration is not None and time.perf_counter() - start >= duration

    async def _one(
        self, session: aiohttp.ClientSession, model: str | None, n: int, record: bool = True
    ) -> None:
        cfg = self.config
        prompt = cfg.prompts[n % len(cfg.prompts)]
        body = build_body(cfg.mode, prompt, cfg.max_tokens, cfg.stream, model)
        result = await send(
            session,
            cfg.base_url + PATHS[cfg.mode],
            body,
            stream=cfg.stream,
            timeout_s=cfg.timeout_s,
            api_key=cfg.api_key,
            require_done=cfg.mode != "generate",
        )
        if record:
            self._record(result)

    async def _closed_loop(self, session: aiohttp.ClientSession, model: str | None) -> None:
        cfg = self.config
        counter = itertools.count()
        warmed = 0
        all_warm = asyncio.Event()

        async def user(index: int) -> None:
            nonlocal warmed
            # Warm-up requests open this user's connection and are not counted; then
            # every user waits so the measured requests start together.
            for _ in range(cfg.warmup_per_user):
                await self._one(session, model, next(counter), record=False)
            warmed += 1
            if warmed == cfg.users:
                self._start = time.perf_counter()
                all_warm.set()
            await all_warm.wait()
            start = self._start
            assert start is not None
            # Ramp-up spreads first requests evenly, so a steady state of N streams is
            # reached without N simultaneous arrivals.
            await asyncio.sleep(cfg.ramp_up_s * index / cfg.users)
            sent = 0
            while cfg.requests_per_user is None or sent < cfg.requests_per_user:
                if self._deadline_passed(start):
                    return
                await self._one(session, model, next(counter))
                sent += 1

        await asyncio.gather(*(user(i) for i in range(cfg.users)))

    async def _open_loop(self, session: aiohttp.ClientSession, model: str | None) -> None:
        cfg = self.config
        assert cfg.rate is not None
        for n in range(cfg.warmup_per_user):
            await self._one(session, model, n, record=False)
        rng = random.Random(cfg.seed)
        tasks: list[asyncio.Task[None]] = []
        start = self._start = time.perf_counter()
        next_at = start
        try:
            for n in itertools.count():
                if cfg.num_requests is not None and n >= cfg.num_requests:
                    break
                # Poisson arrivals: exponential gaps, scheduled against the start so
                # a slow loop does not lower the offered rate.
                next_at += rng.expovariate(cfg.rate)
                if cfg.duration_s is not None and next_at - start >= cfg.duration_s:
                    break
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                tasks.append(asyncio.create_task(self._one(session, model, n)))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
