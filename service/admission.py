"""Bounded admission, counted in sequences: MAX_CONCURRENT_REQUESTS sequences run on the
engine, MAX_QUEUED_REQUESTS wait in arrival order, and anything beyond is refused.

A request holds as many places as it has sequences (prompts x n), because that is
what the engine batches: eight requests of 128 sequences each must queue like 1,024
single ones, and show as waiting in the gauge that drives autoscaling. A request
with more sequences than may run at once is admitted alone, when the engine is idle.

Refusing early (429 + Retry-After) keeps latency bounded for the requests we do take,
tells load balancers and clients to back off, and the size of the queue is the
autoscaling signal (trtllm_num_requests_waiting).
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

# Seconds a refused client should wait; short, as places free up within a generation.
RETRY_AFTER_SECONDS = 1


class QueueFullError(Exception):
    """Every slot is taken and the queue is full."""


class Slot:
    """One request's hold on admission (its sequences' places), as an async context
    manager.

    `release()` may be called more than once, so a streamed response can free the
    slot from its close callback and a `with` block around it does no harm.
    """

    __slots__ = ("_admission", "_held", "_sequences")

    def __init__(self, admission: Admission, sequences: int) -> None:
        self._admission = admission
        self._sequences = sequences
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._admission.release(self._sequences)

    async def __aenter__(self) -> Slot:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> None:
        self.release()


class Admission:
    def __init__(self, max_running: int, max_waiting: int) -> None:
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.running = 0
        self.waiting = 0
        self._waiters: deque[tuple[asyncio.Future[None], int]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return self.running + self.waiting

    def _weight(self, sequences: int) -> int:
        # More than may ever run at once: it runs alone rather than never.
        return min(max(sequences, 1), self.max_running)

    async def acquire(self, sequences: int = 1) -> None:
        """Take places for `sequences`, waiting in line if needed; raise QueueFullError
        if the line cannot hold them."""
        weight = self._weight(sequences)
        if not self._waiters and self.running + weight <= self.max_running:
            self.running += weight
            self._idle.clear()
            return
        if self.waiting + weight > self.max_waiting:
            raise QueueFullError
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((granted, weight))
        self.waiting += weight
        self._idle.clear()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                # The places were handed to us just as we were cancelled: pass them on.
                self.release(sequences)
            else:
                if (granted, weight) in self._waiters:  # else _grant() dropped it
                    self._waiters.remove((granted, weight))
                    self.waiting -= weight
                self._grant()
                self._update_idle()
            raise

    async def admit(self, sequences: int = 1) -> Slot:
        """`acquire()`, returning the slot to release: `async with await admission.admit():`."""
        await self.acquire(sequences)
        return Slot(self, sequences)

    def release(self, sequences: int = 1) -> None:
        """Free the places of `sequences` and hand them on to those first in line."""
        self.running -= self._weight(sequences)
        self._grant()
        self._update_idle()

    def _grant(self) -> None:
        # In arrival order: a large request at the head waits for room rather than
        # being overtaken forever by small ones.
        while self._waiters:
            waiter, weight = self._waiters[0]
            if not waiter.done() and self.running + weight > self.max_running:
                return
            self._waiters.popleft()
            self.waiting -= weight
            if not waiter.done():  # a cancelled waiter only leaves the line
                self.running += weight
                waiter.set_result(None)

    def _update_idle(self) -> None:
        if not self.in_flight:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no request holds or waits for a place."""
        await self._idle.wait()
