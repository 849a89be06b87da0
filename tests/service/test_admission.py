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


async def test_places_are_counted_in_sequences() -> None:
    """Fan-out queues like the single requests it stands for, and shows as waiting."""
    admission = Admission(max_running=8, max_waiting=10)
    await admission.acquire(6)
    assert admission.running == 6
    second = asyncio.ensure_future(admission.acquire(4))  # 6 + 4 > 8: waits
    await asyncio.sleep(0)
    assert (admission.running, admission.waiting) == (6, 4)
    third = asyncio.ensure_future(admission.acquire(2))  # would fit, but waits its turn
    await asyncio.sleep(0)
    assert (admission.running, admission.waiting) == (6, 6)
    with pytest.raises(QueueFullError):
        await admission.acquire(5)  # 6 waiting + 5 > 10
    admission.release(6)
    await asyncio.gather(second, third)
    assert (admission.running, admission.waiting) == (6, 0)
    admission.release(4)
    admission.release(2)
    assert admission.in_flight == 0


async def test_a_request_larger_than_the_engine_runs_alone() -> None:
    admission = Admission(max_running=4, max_waiting=8)
    await admission.acquire(1)
    big = asyncio.ensure_future(admission.acquire(100))
    await asyncio.sleep(0)
    assert admission.waiting == 4
    admission.release(1)
    await big
    assert admission.running == 4
    admission.release(100)
    assert admission.in_flight == 0


async def test_a_cancelled_fan_out_leaves_the_line_and_lets_others_in() -> None:
    admission = Admission(max_running=4, max_waiting=8)
    await admission.acquire(3)
    big = asyncio.ensure_future(admission.acquire(4))
    small = asyncio.ensure_future(admission.acquire(1))
    await asyncio.sleep(0)
    big.cancel()
    await asyncio.gather(big, return_exceptions=True)
    await small
    assert (admission.running, admission.waiting) == (4, 0)
    admission.release(3)
    admission.release(1)
    assert admission.in_flight == 0
