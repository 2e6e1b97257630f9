"""Reservations through the service layer on real stores: SQLite and PostgreSQL.

Each PostgreSQL test gets a fresh database (``database`` in ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import MetaData

from emporium.chassis import Database, transactionally, utcnow
from emporium.chassis.messaging import OUTBOX, Consumer, ConsumerSpec, encode
from emporium.chassis.messaging.consumer import Ack, Delivery
from emporium.contracts import Message
from emporium.contracts.catalog import ProductCreated, ProductDeleted
from emporium.contracts.inventory import CommitStock, ReleaseStock, ReserveStock, StockLine
from emporium.contracts.money import Money
from emporium.services.inventory.adapters.orm import metadata as inventory_tables
from emporium.services.inventory.adapters.orm import start_mappers
from emporium.services.inventory.adapters.repository import InventoryRepository
from emporium.services.inventory.domain import StockItem
from emporium.services.inventory.entrypoints.messages import message_handlers
from emporium.services.inventory.entrypoints.sweeper import ExpirySweeper
from emporium.services.inventory.service_layer import InventoryService, SqlInventoryUnitOfWork

TTL = timedelta(seconds=120)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


pytestmark = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def store_metadata() -> MetaData:
    start_mappers()
    return inventory_tables


@pytest.fixture
def store_unit_of_work() -> type[SqlInventoryUnitOfWork]:
    return SqlInventoryUnitOfWork


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock: Clock) -> InventoryService:
    return InventoryService(reservation_ttl=TTL, initial_stock=10, clock=clock)


async def _stock(
    database: Database[SqlInventoryUnitOfWork], service: InventoryService, units: int = 10
) -> str:
    sku = f"SKU-{uuid.uuid4().hex[:10]}"
    created = ProductCreated(product_id=uuid.uuid4(), sku=sku, name=sku, price=Money(amount=1))
    await transactionally(database.unit_of_work, lambda uow: service.product_created(created, uow))
    if units != service.initial_stock:
        await transactionally(
            database.unit_of_work, lambda uow: service.set_on_hand(sku, units, "t", uow)
        )
    return sku


async def _item(database: Database[SqlInventoryUnitOfWork], sku: str) -> StockItem:
    async with database.session() as session:
        item = await InventoryRepository(session).item(sku)
        assert item is not None
        return item


async def _answers(
    database: Database[SqlInventoryUnitOfWork], key: str, value: str
) -> list[dict[str, Any]]:
    """The events in the outbox whose payload field ``key`` is ``value``, in order."""
    async with database.session() as session:
        rows = (await session.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id))).mappings()
        return [
            {"type": row["type"], **row["payload"]}
            for row in rows
            if row["payload"].get(key) == value
        ]


def _reserve(order: uuid.UUID, *lines: tuple[str, int]) -> ReserveStock:
    return ReserveStock(order_id=order, lines=[StockLine(sku=sku, quantity=q) for sku, q in lines])


def _balanced(item: StockItem) -> bool:
    return item.invariant_holds() and item.on_hand == item.available + item.reserved


async def _contend(database: Database[SqlInventoryUnitOfWork], service: InventoryService) -> None:
    """50 orders of one unit each race for the last 10 units, watched as they go."""
    sku = await _stock(database, service, units=10)
    orders = [uuid.uuid4() for _ in range(50)]
    done = asyncio.Event()
    observed: list[StockItem] = []

    async def observe() -> None:
        while not done.is_set():
            observed.append(await _item(database, sku))
            await asyncio.sleep(0)

    async def reserve(order: uuid.UUID) -> str:
        command = _reserve(order, (sku, 1))
        reservation = await transactionally(
            database.unit_of_work, lambda uow: service.reserve(command, uow), retries=9
        )
        return reservation.status

    observer = asyncio.create_task(observe())
    statuses = await asyncio.gather(*(reserve(order) for order in orders))
    done.set()
    await observer

    assert statuses.count("RESERVED") == 10
    assert statuses.count("REJECTED") == 40
    assert observed
    assert all(_balanced(item) for item in observed)
    final = await _item(database, sku)
    assert (final.on_hand, final.reserved, final.available) == (10, 10, 0)
    answers = [(await _answers(database, "order_id", str(o)))[0]["type"] for o in orders]
    assert answers.count("StockReserved") == 10
    assert answers.count("StockRejected") == 40


async def test_fifty_concurrent_reservations_for_ten_units_reserve_exactly_ten(
    database: Database[SqlInventoryUnitOfWork], service: InventoryService
) -> None:
    for _round in range(5):
        await _contend(database, service)


async def test_reservation_is_all_or_nothing_and_answered_in_the_outbox(
    database: Database[SqlInventoryUnitOfWork], service: InventoryService
) -> None:
    plenty, scarce = await _stock(database, service, 10), await _stock(database, service, 1)
    order = uuid.uuid4()
    await transactionally(
        database.unit_of_work,
        lambda uow: service.reserve(_reserve(order, (plenty, 2), (scarce, 2)), uow),
    )
    assert (await _item(database, plenty)).reserved == 0
    [answer] = await _answers(database, "order_id", str(order))
    assert answer["type"] == "StockRejected"
    assert (answer["reason"], answer["unavailable"]) == ("OUT_OF_STOCK", [scarce])


async def test_reserving_the_same_order_twice_holds_once_and_answers_alike(
    database: Database[SqlInventoryUnitOfWork], service: InventoryService
) -> None:
    sku = await _stock(database, service)
    order = uuid.uuid4()
    for _ in range(2):
        await transactionally(
            database.unit_of_work, lambda uow: service.reserve(_reserve(order, (sku, 3)), uow)
        )
    assert (await _item(database, sku)).reserved == 3
    answers = await _answers(database, "order_id", str(order))
    assert [a["type"] for a in answers] == ["StockReserved", "StockReserved"]
    assert answers[0]["lines"] == answers[1]["lines"] == [{"sku": sku, "quantity": 3}]


async def test_expired_reservation_returns_its_units_and_refuses_commit(
    database: Database[SqlInventoryUnitOfWork], service: InventoryService, clock: Clock
) -> None:
    sku = await _stock(database, service)
    order = uuid.uuid4()
    await transactionally(
        database.unit_of_work, lambda uow: service.reserve(_reserve(order, (sku, 4)), uow)
    )
    clock.now += TTL + timedelta(seconds=1)
    # Two replicas sweeping at once: the reservation expires once.
    sweepers = [ExpirySweeper(service, database, interval=1, batch=10) for _ in range(2)]
    counts = await asyncio.gather(*(s.run_once() for s in sweepers))
    assert sum(counts) >= 1
    item = await _item(database, sku)
    assert (item.available, item.reserved, item.sold) == (10, 0, 0)

    await transactionally(
        database.unit_of_work, lambda uow: service.commit(CommitStock(order_id=order), uow)
    )
    answers = await _answers(database, "order_id", str(order))
    assert [(a["type"], a.get("reason")) for a in answers] == [
        ("StockReserved", None),
        ("StockReleased", "EXPIRED"),
        ("StockCommitRefused", "EXPIRED"),
    ]
    assert (await _item(database, sku)).sold == 0
    changes = await _answers(database, "sku", sku)
    assert changes[-1] == {**changes[-1], "type": "StockChanged", "available": 10}


async def test_commit_sells_reserved_units_and_release_after_is_a_return(
    database: Database[SqlInventoryUnitOfWork], service: InventoryService
) -> None:
    sku = await _stock(database, service)
    order = uuid.uuid4()
    await transactionally(
        database.unit_of_work, lambda uow: service.reserve(_reserve(order, (sku, 4)), uow)
    )
    await transactionally(
        database.unit_of_work, lambda uow: service.commit(CommitStock(order_id=order), uow)
    )
    item = await _item(database, sku)
    assert (item.on_hand, item.reserved, item.sold, item.available) == (6, 0, 4, 6)
    assert _balanced(item)


async def test_release_of_an_unknown_order_answers_and_blocks_a_late_reserve(
    database: Database[SqlInventoryUnitOfWork], service: InventoryService
) -> None:
    sku = await _stock(database, service)
    order = uuid.uuid4()
    await transactionally(
        database.unit_of_work, lambda uow: service.release(ReleaseStock(order_id=order), uow)
    )
    await transactionally(
        database.unit_of_work, lambda uow: service.reserve(_reserve(order, (sku, 1)), uow)
    )
    answers = await _answers(database, "order_id", str(order))
    assert [(a["type"], a["reason"]) for a in answers] == [
        ("StockReleased", "NOT_RESERVED"),
        ("StockRejected", "RELEASED"),
    ]
    assert (await _item(database, sku)).reserved == 0


async def _deliver_twice(
    database: Database[SqlInventoryUnitOfWork], handlers: dict[type[Message], Any], message: Message
) -> list[bool]:
    consumer = Consumer(
        ConsumerSpec("inventory", type(message), f"t{uuid.uuid4().hex[:8]}"),
        handlers[type(message)],
        database,
    )
    delivery = Delivery(encode(message).payload, {}, attempt=1)
    outcomes = [await consumer.process(delivery) for _ in range(2)]
    assert all(isinstance(outcome, Ack) for outcome in outcomes)
    return [isinstance(o, Ack) and o.duplicate for o in outcomes]


async def test_every_consumer_has_one_effect_per_message_delivered_twice(
    database: Database[SqlInventoryUnitOfWork], service: InventoryService
) -> None:
    handlers = message_handlers(service)
    sku, product_id = f"SKU-{uuid.uuid4().hex[:10]}", uuid.uuid4()
    created = ProductCreated(product_id=product_id, sku=sku, name=sku, price=Money(amount=1))
    assert await _deliver_twice(database, handlers, created) == [False, True]
    order, other = uuid.uuid4(), uuid.uuid4()
    for message in [
        _reserve(order, (sku, 2)),
        _reserve(other, (sku, 3)),
        CommitStock(order_id=order),
        ReleaseStock(order_id=other),
    ]:
        assert await _deliver_twice(database, handlers, message) == [False, True]
    deleted = ProductDeleted(product_id=product_id, sku=sku)
    assert await _deliver_twice(database, handlers, deleted) == [False, True]

    item = await _item(database, sku)
    assert (item.on_hand, item.reserved, item.sold, item.discontinued) == (8, 0, 2, True)
    assert len(await _answers(database, "order_id", str(order))) == 2  # reserved, committed
    late = uuid.uuid4()
    await transactionally(
        database.unit_of_work, lambda uow: service.reserve(_reserve(late, (sku, 1)), uow)
    )
    [rejected] = await _answers(database, "order_id", str(late))
    assert rejected["reason"] == "DISCONTINUED"
