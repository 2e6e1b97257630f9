"""Shipments on real stores (SQLite and MariaDB): transitions are atomic and exclusive.

Each MariaDB test gets a database of its own (``database`` in ``conftest.py``):
the outbox table is shared by everything in a database.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import MetaData

from emporium.chassis import Database
from emporium.chassis.clock import utcnow
from emporium.chassis.messaging import OUTBOX, Outbox
from emporium.contracts.money import Money
from emporium.contracts.orders import OrderCancelled, OrderConfirmed
from emporium.services.shipping.dispatcher import Dispatcher
from emporium.services.shipping.domain import Shipment, ShipmentStatus
from emporium.services.shipping.messages import message_handlers
from emporium.services.shipping.store import ShipmentRepository
from emporium.services.shipping.store import metadata as shipping_tables

pytestmark = pytest.mark.parametrize("database", ["sqlite", "mariadb"], indirect=True)


@pytest.fixture
def store_metadata() -> MetaData:
    return shipping_tables


async def _created(database: Database, delay: float = 0.0) -> Shipment:
    shipment = Shipment.create(
        uuid.uuid4(),
        uuid.uuid4(),
        carrier="Emporium Post",
        country="US",
        now=utcnow(),
        delay=timedelta(seconds=delay),
    )
    async with database.unit_of_work() as uow:
        await ShipmentRepository(uow.session).add(shipment)
        await uow.commit()
    return shipment


async def _get(database: Database, shipment: Shipment) -> Shipment:
    async with database.session() as session:
        found = await ShipmentRepository(session).get(shipment.order_id)
    assert found is not None
    return found


async def _dispatched_events(database: Database, order_id: uuid.UUID) -> int:
    async with database.session() as session:
        rows = (await session.execute(sa.select(OUTBOX.c.type, OUTBOX.c.payload))).all()
    return sum(1 for t, p in rows if t == "ShipmentDispatched" and p["order_id"] == str(order_id))


async def test_a_shipment_round_trips_with_microsecond_times(database: Database) -> None:
    shipment = await _created(database, delay=0.25)
    assert await _get(database, shipment) == shipment


async def test_only_due_created_shipments_are_found(database: Database) -> None:
    due, later, cancelled = [await _created(database, d) for d in (0, 3600, 0)]
    async with database.unit_of_work() as uow:
        assert await ShipmentRepository(uow.session).cancel(cancelled.order_id, utcnow())
        await uow.commit()
    async with database.session() as session:
        found = set(await ShipmentRepository(session).due(utcnow(), 1000))
    assert due.order_id in found
    assert not {later.order_id, cancelled.order_id} & found


async def test_a_cancelled_shipment_cannot_be_dispatched_nor_a_dispatched_one_cancelled(
    database: Database,
) -> None:
    first, second = await _created(database), await _created(database)
    async with database.unit_of_work() as uow:
        repository = ShipmentRepository(uow.session)
        assert await repository.cancel(first.order_id, utcnow()) is not None
        assert await repository.claim_dispatch(first.order_id, utcnow()) is None
        assert await repository.claim_dispatch(second.order_id, utcnow()) is not None
        assert await repository.cancel(second.order_id, utcnow()) is None
        await uow.commit()
    assert (await _get(database, first)).status is ShipmentStatus.CANCELLED
    assert (await _get(database, second)).status is ShipmentStatus.DISPATCHED


async def test_racing_dispatchers_dispatch_each_shipment_exactly_once(database: Database) -> None:
    shipments = [await _created(database) for _ in range(6)]
    outbox = Outbox()
    dispatchers = [Dispatcher(database, outbox, interval=1, batch=2) for _ in range(3)]
    counts = await asyncio.gather(*(d.run_once() for d in dispatchers))
    assert sum(counts) == len(shipments)
    for shipment in shipments:
        assert (await _get(database, shipment)).status is ShipmentStatus.DISPATCHED
        assert await _dispatched_events(database, shipment.order_id) == 1


async def test_a_cancellation_that_overtakes_its_confirmation_prevents_the_shipment(
    database: Database,
) -> None:
    table = message_handlers(Outbox(), delay=timedelta(0))
    order_id, user_id = uuid.uuid4(), uuid.uuid4()
    cancelled = OrderCancelled(order_id=order_id, user_id=user_id, reason="CUSTOMER_CANCELLED")
    confirmed = OrderConfirmed(order_id=order_id, user_id=user_id, lines=[], total=Money(amount=1))
    for message in (cancelled, confirmed):
        async with database.unit_of_work() as uow:
            await table[type(message)](message, uow)
            await uow.commit()
    async with database.session() as session:
        assert await ShipmentRepository(session).get(order_id) is None
