"""Two replicas applying replies to one order at once: the optimistic version lets one win."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import MetaData
from sqlalchemy.orm.exc import StaleDataError

from emporium.chassis import Database
from emporium.contracts import inventory as inv
from emporium.contracts import payments as pay
from emporium.services.orders.adapters.orm import metadata as orders_tables
from emporium.services.orders.adapters.orm import start_mappers
from emporium.services.orders.adapters.repository import OrderRepository
from emporium.services.orders.domain import Order
from emporium.services.orders.service_layer import Saga, SqlOrdersUnitOfWork
from tests._sql import statements_sent
from tests.unit.test_orders_saga import new_order

TIMEOUT = timedelta(seconds=30)


@pytest.fixture
def store_metadata() -> MetaData:
    start_mappers()
    return orders_tables


@pytest.fixture
def store_unit_of_work() -> type[SqlOrdersUnitOfWork]:
    return SqlOrdersUnitOfWork


async def _stored(database: Database[SqlOrdersUnitOfWork]) -> Order:
    """A new order, placed and committed, its events already sent."""
    order = new_order()
    order.collect_events()
    async with database.unit_of_work() as uow:
        OrderRepository(uow.session).add(order)
        await uow.commit()
    return order


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_concurrent_replies_for_one_order_cannot_both_win(
    database: Database[SqlOrdersUnitOfWork],
) -> None:
    saga = Saga(step_timeout=TIMEOUT)
    order = await _stored(database)
    reserved = inv.StockReserved(order_id=order.id, lines=[])

    first, second = database.unit_of_work(), database.unit_of_work()
    async with first, second:
        # Both replicas load and change version 1 before either commits.
        loser = await OrderRepository(second.session).get(order.id)
        assert loser is not None
        loser.time_out(loser.created_at + 2 * TIMEOUT)
        await saga.stock_reserved(reserved, first)
        await first.commit()
        with pytest.raises(StaleDataError):
            await second.commit()

    # A retry (the chassis redelivers) sees the winner's state and applies cleanly.
    async with database.unit_of_work() as retry:
        await saga.payment_declined(
            pay.PaymentDeclined(order_id=order.id, reason="card_declined"), retry
        )
        await retry.commit()
    async with database.session() as session:
        final = await OrderRepository(session).get(order.id)
        assert final is not None
        assert (final.status, final.reason) == ("CANCELLED", "PAYMENT_DECLINED")


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"], indirect=True)
async def test_an_order_loaded_for_a_saga_step_is_one_query_and_keeps_its_history(
    database: Database[SqlOrdersUnitOfWork],
) -> None:
    saga = Saga(step_timeout=TIMEOUT)
    order = await _stored(database)

    async with database.unit_of_work() as uow:
        with statements_sent(database.engine) as statements:
            loaded = await uow.orders.for_change(order.id)
        assert loaded is not None
        assert len(statements) == 1, statements  # the order and its lines, joined
        assert [(line.sku, line.quantity) for line in loaded.lines] == [("SKU-A", 2), ("SKU-B", 1)]
    # A step through it appends to the history that is in the store, losing none.
    async with database.unit_of_work() as uow:
        await saga.stock_reserved(inv.StockReserved(order_id=order.id, lines=[]), uow)
        await saga.payment_declined(
            pay.PaymentDeclined(order_id=order.id, reason="card_declined"), uow
        )
        await uow.commit()
    async with database.session() as session:
        final = await OrderRepository(session).get(order.id)
        assert final is not None
        assert [entry.status for entry in final.history] == ["PENDING", "CANCELLED"]
        assert len(final.lines) == 2
