"""The long poll's watch: a waiter reads again on a committed change, a recheck, or a stop."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from emporium.chassis.testing import FakeUnitOfWork
from emporium.services.orders.service_layer import OrderWatch


class Store:
    """An order's status as a waiter's ``load`` reads it, counting the reads."""

    def __init__(self, status: str = "PENDING") -> None:
        self.status = status
        self.loads = 0

    async def load(self) -> str:
        self.loads += 1
        return self.status


def settled(status: str) -> bool:
    return status != "PENDING"


async def test_a_settled_order_is_answered_after_one_read() -> None:
    watch, store = OrderWatch(recheck=30), Store("CONFIRMED")
    assert await watch.wait(uuid.uuid4(), store.load, settled, 10) == "CONFIRMED"
    assert store.loads == 1
    assert watch.waiting == 0


async def test_a_committed_change_wakes_the_waiter_long_before_the_recheck() -> None:
    watch, store, order_id = OrderWatch(recheck=30), Store(), uuid.uuid4()
    waiter = asyncio.create_task(watch.wait(order_id, store.load, settled, 10))
    await asyncio.sleep(0.05)
    assert watch.waiting == 1

    uow = FakeUnitOfWork()
    async with uow:
        store.status = "CONFIRMED"
        watch.after_commit(uow, order_id)
        await asyncio.sleep(0.05)
        assert not waiter.done()  # not before the commit
        started = time.monotonic()
        await uow.commit()
    assert await asyncio.wait_for(waiter, 2) == "CONFIRMED"
    assert time.monotonic() - started < 1
    assert store.loads == 2
    assert watch.waiting == 0


async def test_a_rolled_back_change_wakes_no_one() -> None:
    watch, store, order_id = OrderWatch(recheck=30), Store(), uuid.uuid4()
    waiter = asyncio.create_task(watch.wait(order_id, store.load, settled, 0.3))
    await asyncio.sleep(0.05)
    async with FakeUnitOfWork() as uow:  # never committed
        watch.after_commit(uow, order_id)
    assert await waiter == "PENDING"
    assert store.loads == 2  # the first read and the last, at the end of the wait


async def test_another_orders_change_does_not_wake_the_waiter() -> None:
    watch, store = OrderWatch(recheck=30), Store()
    waiter = asyncio.create_task(watch.wait(uuid.uuid4(), store.load, settled, 0.3))
    await asyncio.sleep(0.05)
    watch.changed(uuid.uuid4())
    await asyncio.sleep(0.05)
    assert store.loads == 1
    assert await waiter == "PENDING"


async def test_a_change_made_elsewhere_is_read_at_the_next_recheck() -> None:
    # Another replica's commit: no one here calls changed().
    watch, store = OrderWatch(recheck=0.1), Store()
    waiter = asyncio.create_task(watch.wait(uuid.uuid4(), store.load, settled, 10))
    await asyncio.sleep(0.25)
    assert not waiter.done()
    assert store.loads >= 2  # read again while waiting
    store.status = "CANCELLED"
    assert await asyncio.wait_for(waiter, 1) == "CANCELLED"


async def test_the_wait_ends_with_the_last_read_when_its_time_is_up() -> None:
    watch, store = OrderWatch(recheck=30), Store()
    started = time.monotonic()
    assert await watch.wait(uuid.uuid4(), store.load, settled, 0.2) == "PENDING"
    assert 0.15 < time.monotonic() - started < 1
    assert watch.waiting == 0


async def test_closing_answers_every_waiter_and_later_ones_at_once() -> None:
    watch, store = OrderWatch(recheck=30), Store()
    waiters = [
        asyncio.create_task(watch.wait(uuid.uuid4(), store.load, settled, 10)) for _ in range(3)
    ]
    await asyncio.sleep(0.05)
    watch.close()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == ["PENDING"] * 3
    started = time.monotonic()
    assert await watch.wait(uuid.uuid4(), store.load, settled, 10) == "PENDING"
    assert time.monotonic() - started < 0.5
    assert watch.waiting == 0


async def test_a_failed_read_leaves_no_waiter_behind() -> None:
    watch = OrderWatch(recheck=30)

    async def missing() -> str:
        raise LookupError("no such order")

    with pytest.raises(LookupError):
        await watch.wait(uuid.uuid4(), missing, settled, 10)
    assert watch.waiting == 0


async def test_an_order_has_at_most_per_order_waiters_and_the_next_is_answered_at_once() -> None:
    watch, store, order_id = OrderWatch(recheck=30, per_order=2), Store(), uuid.uuid4()
    held = [asyncio.create_task(watch.wait(order_id, store.load, settled, 10)) for _ in range(2)]
    await asyncio.sleep(0.05)
    started = time.monotonic()
    assert await watch.wait(order_id, store.load, settled, 10) == "PENDING"
    assert time.monotonic() - started < 0.5
    assert watch.waiting == 2
    # Another order still has its own room.
    other = asyncio.create_task(watch.wait(uuid.uuid4(), store.load, settled, 10))
    await asyncio.sleep(0.05)
    assert watch.waiting == 3
    watch.close()
    await asyncio.gather(*held, other)


def test_the_recheck_and_the_room_per_order_must_be_positive() -> None:
    with pytest.raises(ValueError, match="recheck"):
        OrderWatch(recheck=0)
    with pytest.raises(ValueError, match="per_order"):
        OrderWatch(recheck=1, per_order=0)
