"""A deep health check: generate one token through the loaded engine.

/health/live and /health/ready say the process is up and the engine has not reported
itself dead; only a real generation shows that the engine still turns a prompt into
tokens. That costs GPU time, so the check runs at most once per interval and callers
in between (several probes, an alert) share the last result; concurrent callers share
one run. The check does not take an admission slot: it is one token, rate-limited, and
must not be refused with 429 exactly when the server is busiest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from service.engines.base import Engine, EngineError, GenerationRequest

# A prompt every tokenizer encodes to a few tokens; the text generated is not checked.
CHECK_PROMPT = "Hello"


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    # Seconds the generation took (to its end or to the failure).
    latency_seconds: float
    # time.monotonic() when the check finished, to tell a fresh result from a shared one.
    finished_at: float
    reason: str | None = None


class GenerationCheck:
    def __init__(
        self,
        engine: Engine,
        *,
        interval_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._interval = interval_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._last: CheckResult | None = None
        self._running: asyncio.Task[CheckResult] | None = None
        self._runs = 0

    @property
    def runs(self) -> int:
        """Generations started so far (the rate limit's effect, for metrics and tests)."""
        return self._runs

    async def result(self) -> tuple[CheckResult, bool]:
        """The latest result and whether it was shared rather than run for this caller."""
        last = self._last
        if last is not None and self._clock() - last.finished_at < self._interval:
            return last, True
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
            self._running.add_done_callback(self._finished)
            shared = False
        else:
            shared = True
        # shield: a caller that goes away must not cancel the run others wait on.
        return await asyncio.shield(self._running), shared

    def _finished(self, task: asyncio.Task[CheckResult]) -> None:
        self._running = None
        if not task.cancelled() and task.exception() is None:
            self._last = task.result()

    async def _run(self) -> CheckResult:
        self._runs += 1
        request = GenerationRequest(
            request_id=f"health-generate-{self._runs}",
            prompt=CHECK_PROMPT,
            max_tokens=1,
            temperature=0.0,
            top_p=1.0,
        )
        started = self._clock()
        reason: str | None = None
        stream = self._engine.stream(request)
        try:
            async with asyncio.timeout(self._timeout):
                tokens = 0
                async for chunk in stream:
                    tokens += chunk.token_count
                if tokens < 1:
                    reason = "the engine finished without generating a token"
        except TimeoutError:
            reason = f"no token within {self._timeout:g} s"
        except EngineError as error:
            reason = f"generation failed: {error}"
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]
        finished = self._clock()
        return CheckResult(reason is None, finished - started, finished, reason)
