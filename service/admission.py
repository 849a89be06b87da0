"""Bounded admission: MAX_CONCURRENT_REQUESTS hold an engine slot, MAX_QUEUED_REQUESTS
wait for one in arrival order, and anything beyond is refused at once.

Refusing early (429 + Retry-After) keeps latency bounded for the requests we do take,
tells load balancers and clients to back off, and the size of the queue is the
autoscaling signal (trtllm_requests_waiting).
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType

# Seconds a refused client should wait; short, as slots free up within a generation.
RETRY_AFTER_SECONDS = 1


class QueueFullError(Exception):
    """Every slot is taken and the queue is full."""


class Slot:
    """One request's hold on admission, as an async context manager.

    `release()` may be called more than once, so a streamed response can free the
    slot from its close callback and a `with` block around it does no harm.
    """

    __slots__ = ("_admission", "_held")

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._admission.release()

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
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def in_flight(self) -> int:
        return self.running + len(self._waiters)

    async def acquire(self) -> None:
        """Take a slot, waiting in line if needed; raise QueueFullError if the line is full."""
        if self.running < self.max_running and not self._waiters:
            self.running += 1
            self._idle.clear()
            return
        if len(self._waiters) >= self.max_waiting:
            raise QueueFullError
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(granted)
        self._idle.clear()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                # The slot was handed to us just as we were cancelled: pass it on.
                self.release()
            elif granted in self._waiters:
                self._waiters.remove(granted)
                self._update_idle()
            raise

    async def admit(self) -> Slot:
        """`acquire()`, returning the slot to release: `async with await admission.admit():`."""
        await self.acquire()
        return Slot(self)

    def release(self) -> None:
        """Give the slot to the next in line (the running count stays), or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.running -= 1
        self._update_idle()

    def _update_idle(self) -> None:
        if not self.in_flight:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no request holds or waits for a slot."""
        await self._idle.wait()
