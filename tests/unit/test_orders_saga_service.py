"""The saga's reply handlers and the deadline sweep on a fake unit of work.

The aggregate's transitions are proven in ``test_orders_saga``; these prove the
use cases around them: the right order is loaded, what it recorded is published
in the same transaction, an unknown order is dropped, a deadline is decided on
the loaded row.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from emporium.chassis import transactionally
from emporium.contracts import Money
from emporium.contracts import inventory as inv
from emporium.contracts import payments as pay
from emporium.contracts import shipping as ship
from emporium.services.orders.domain import Reason, Status
from emporium.services.orders.service_layer import OrderWatch, Saga
from tests.unit.test_orders_checkout import FakeOrders, FakeOrdersUnitOfWork
from tests.unit.test_orders_saga import T0, TIMEOUT, new_order


class Harness:
    def __init__(self) -> None:
        self.now = T0
        self.orders = FakeOrders()
        self.saga = Saga(step_timeout=TIMEOUT, clock=lambda: self.now)
        self.order = new_order(T0)
        # Confirmation carries the address in its contract, which wants a country.
        self.order.shipping_address = {**self.order.shipping_address, "country": "GB"}
        self.order.collect_events()
        self.orders.add(self.order)
        self.sent: list[str] = []

    async def reply(self, handler: object, message: object) -> list[str]:
        uow = FakeOrdersUnitOfWork(self.orders)
        async with uow:
            await handler(message, uow)  # type: ignore[operator]
            await uow.commit()
        kinds = [m.type for m in uow.published]
        self.sent += kinds
        return kinds


@pytest.fixture
def saga() -> Harness:
    return Harness()


async def test_reserved_stock_publishes_the_authorization_in_the_same_transaction(
    saga: Harness,
) -> None:
    sent = await saga.reply(
        saga.saga.stock_reserved, inv.StockReserved(order_id=saga.order.id, lines=[])
    )
    assert sent == ["AuthorizePayment"]


async def test_a_happy_path_of_replies_confirms_then_ships(saga: Harness) -> None:
    order_id = saga.order.id
    await saga.reply(saga.saga.stock_reserved, inv.StockReserved(order_id=order_id, lines=[]))
    authorized = pay.PaymentAuthorized(
        order_id=order_id, payment_id=uuid.uuid4(), amount=Money(amount=saga.order.total)
    )
    assert set(await saga.reply(saga.saga.payment_authorized, authorized)) == {
        "CapturePayment",
        "CommitStock",
    }
    captured = pay.PaymentCaptured(order_id=order_id, amount=Money(amount=saga.order.total))
    await saga.reply(saga.saga.payment_captured, captured)
    assert await saga.reply(saga.saga.stock_committed, inv.StockCommitted(order_id=order_id)) == [
        "OrderConfirmed"
    ]
    dispatched = ship.ShipmentDispatched(
        order_id=order_id,
        user_id=saga.order.user_id,
        shipment_id=uuid.uuid4(),
        tracking_number="TRK-1",
        carrier="Parcelforce",
    )
    assert await saga.reply(saga.saga.shipment_dispatched, dispatched) == ["OrderShipped"]
    assert saga.order.status == Status.SHIPPED


async def test_the_reply_that_settles_the_order_wakes_its_waiters_and_no_other_does(
    saga: Harness,
) -> None:
    order_id = saga.order.id
    saga.saga.watch = watch = OrderWatch(recheck=30)
    reads: list[str] = []

    async def load() -> str:
        reads.append(saga.order.status)
        return saga.order.status

    waiter = asyncio.create_task(
        watch.wait(order_id, load, lambda status: status != Status.PENDING, 10)
    )
    await asyncio.sleep(0.01)
    await saga.reply(saga.saga.stock_reserved, inv.StockReserved(order_id=order_id, lines=[]))
    authorized = pay.PaymentAuthorized(
        order_id=order_id, payment_id=uuid.uuid4(), amount=Money(amount=saga.order.total)
    )
    await saga.reply(saga.saga.payment_authorized, authorized)
    captured = pay.PaymentCaptured(order_id=order_id, amount=Money(amount=saga.order.total))
    await saga.reply(saga.saga.payment_captured, captured)
    await asyncio.sleep(0.01)
    assert reads == ["PENDING"]  # steps inside PENDING wake no one
    await saga.reply(saga.saga.stock_committed, inv.StockCommitted(order_id=order_id))
    assert await asyncio.wait_for(waiter, 1) == Status.CONFIRMED
    assert reads == ["PENDING", "CONFIRMED"]


async def test_a_declined_payment_releases_stock_and_cancels(saga: Harness) -> None:
    order_id = saga.order.id
    await saga.reply(saga.saga.stock_reserved, inv.StockReserved(order_id=order_id, lines=[]))
    sent = await saga.reply(
        saga.saga.payment_declined, pay.PaymentDeclined(order_id=order_id, reason="card_declined")
    )
    assert set(sent) == {"ReleaseStock", "OrderCancelled"}
    assert (saga.order.status, saga.order.reason) == (Status.CANCELLED, Reason.PAYMENT_DECLINED)


async def test_a_reply_for_an_unknown_order_is_dropped_without_effect(saga: Harness) -> None:
    sent = await saga.reply(
        saga.saga.stock_reserved, inv.StockReserved(order_id=uuid.uuid4(), lines=[])
    )
    assert sent == []


async def test_the_deadline_cancels_only_an_order_past_it(saga: Harness) -> None:
    uow = FakeOrdersUnitOfWork(saga.orders)
    assert not await transactionally(lambda: uow, lambda u: saga.saga.time_out(saga.order.id, u))
    saga.now = T0 + TIMEOUT + timedelta(seconds=1)
    assert await saga.orders.overdue(saga.now, 10) == [saga.order.id]
    timed_out = FakeOrdersUnitOfWork(saga.orders)
    assert await transactionally(lambda: timed_out, lambda u: saga.saga.time_out(saga.order.id, u))
    assert (saga.order.status, saga.order.reason) == (Status.CANCELLED, Reason.TIMEOUT)
    assert "OrderCancelled" in [m.type for m in timed_out.published]


async def test_a_late_reservation_for_a_timed_out_order_is_released(saga: Harness) -> None:
    saga.now = T0 + TIMEOUT + timedelta(seconds=1)
    await transactionally(
        lambda: FakeOrdersUnitOfWork(saga.orders),
        lambda u: saga.saga.time_out(saga.order.id, u),
    )
    late = await saga.reply(
        saga.saga.stock_reserved, inv.StockReserved(order_id=saga.order.id, lines=[])
    )
    assert late == ["ReleaseStock"]
