"""Admission: slots, a bounded FIFO queue, and exact counts whatever is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from service.admission import Admission, QueueFullError


async def test_slots_then_queue_then_refusal() -> None:
    admission = Admission(max_running=2, max_waiting=1)
    await admission.acquire()
    await admission.acquire()
    queued = asyncio.ensure_future(admission.acquire())
    await asyncio.sleep(0)
    assert (admission.running, admission.waiting) == (2, 1)
    with pytest.raises(QueueFullError):
        await admission.acquire()
    admission.release()
    await queued
    assert (admission.running, admission.waiting) == (2, 0)
    admission.release()
    admission.release()
    assert admission.in_flight == 0


async def test_queue_is_first_in_first_out() -> None:
    admission = Admission(max_running=1, max_waiting=5)
    await admission.acquire()
    order: list[int] = []

    async def take(index: int) -> None:
        await admission.acquire()
        order.append(index)
        admission.release()

    waiters = [asyncio.ensure_future(take(i)) for i in range(5)]
    await asyncio.sleep(0)
    admission.release()
    await asyncio.gather(*waiters)
    assert order == [0, 1, 2, 3, 4]
    assert admission.in_flight == 0


async def test_cancelled_waiter_leaves_the_queue() -> None:
    admission = Admission(max_running=1, max_waiting=2)
    await admission.acquire()
    waiter = asyncio.ensure_future(admission.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert admission.waiting == 0
    admission.release()
    assert admission.in_flight == 0


async def test_slot_granted_to_a_cancelled_waiter_is_passed_on() -> None:
    admission = Admission(max_running=1, max_waiting=2)
    await admission.acquire()
    first = asyncio.ensure_future(admission.acquire())
    second = asyncio.ensure_future(admission.acquire())
    await asyncio.sleep(0)
    admission.release()  # hands the slot to `first`...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)
    assert (admission.running, admission.waiting) == (1, 0)
    admission.release()
    assert admission.in_flight == 0


async def test_wait_idle_returns_when_the_last_request_leaves() -> None:
    admission = Admission(max_running=1, max_waiting=1)
    await admission.wait_idle()
    await admission.acquire()
    idle = asyncio.ensure_future(admission.wait_idle())
    await asyncio.sleep(0.01)
    assert not idle.done()
    admission.release()
    await asyncio.wait_for(idle, 1)
