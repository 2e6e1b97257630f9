"""Inventory's use cases on a fake unit of work: the rules, with no database or broker."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from emporium.chassis.testing import FakeUnitOfWork
from emporium.contracts import Message, Money
from emporium.contracts.catalog import ProductCreated, ProductDeleted
from emporium.contracts.inventory import (
    CommitStock,
    ReleaseStock,
    ReserveStock,
    StockChanged,
    StockLine,
    StockRejected,
)
from emporium.services.inventory.domain import Adjustment, Reservation, StockItem
from emporium.services.inventory.service_layer import InventoryService, UnknownItemError

NOW = datetime(2026, 1, 1, 12, 0)
TTL = timedelta(minutes=2)


class FakeStockRepository:
    """The stock port in memory; locks are nothing to a single-threaded test."""

    def __init__(self) -> None:
        self.items: dict[str, StockItem] = {}
        self.reservations: dict[UUID, Reservation] = {}
        self.adjustments: list[Adjustment] = []

    async def lock_items(self, skus: Sequence[str]) -> dict[str, StockItem]:
        return {sku: self.items[sku] for sku in sorted(set(skus)) if sku in self.items}

    async def item(self, sku: str) -> StockItem | None:
        return self.items.get(sku)

    async def reservation(self, order_id: UUID, *, lock: bool = False) -> Reservation | None:
        return self.reservations.get(order_id)

    def add(self, aggregate: StockItem | Reservation | Adjustment) -> None:
        if isinstance(aggregate, StockItem):
            self.items[aggregate.sku] = aggregate
        elif isinstance(aggregate, Reservation):
            self.reservations[aggregate.order_id] = aggregate
        else:
            self.adjustments.append(aggregate)

    async def expired(self, now: datetime, limit: int) -> list[UUID]:
        due = [r for r in self.reservations.values() if r.is_expired(now)]
        return [r.order_id for r in sorted(due, key=lambda r: r.expires_at or now)][:limit]

    async def page(self, limit: int, offset: int) -> tuple[list[StockItem], int]:
        items = sorted(self.items.values(), key=lambda item: item.sku)
        return items[offset : offset + limit], len(items)


class FakeInventoryUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.stock = FakeStockRepository()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock: Clock) -> InventoryService:
    return InventoryService(reservation_ttl=TTL, initial_stock=5, clock=clock)


@pytest.fixture
def uow() -> FakeInventoryUnitOfWork:
    return FakeInventoryUnitOfWork()


async def _product(service: InventoryService, uow: FakeInventoryUnitOfWork, sku: str) -> None:
    created = ProductCreated(product_id=uuid.uuid4(), sku=sku, name=sku, price=Money(amount=100))
    async with uow:
        await service.product_created(created, uow)
        await uow.commit()


def _reserve(order_id: UUID, *lines: tuple[str, int]) -> ReserveStock:
    return ReserveStock(
        order_id=order_id, lines=[StockLine(sku=sku, quantity=qty) for sku, qty in lines]
    )


async def _run(uow: FakeInventoryUnitOfWork, message: object, handler: object) -> list[Message]:
    """Apply one use case in a committed unit of work; what it published."""
    before = len(uow.published)
    async with uow:
        await handler(message, uow)  # type: ignore[operator]
        await uow.commit()
    return list(uow.published[before:])


async def test_a_new_product_gets_its_initial_stock_once(
    service: InventoryService, uow: FakeInventoryUnitOfWork
) -> None:
    await _product(service, uow, "A")
    uow.stock.items["A"].set_on_hand(2)
    await _product(service, uow, "A")  # delivered again: left alone
    assert uow.stock.items["A"].on_hand == 2


async def test_a_reservation_takes_every_line_or_none(
    service: InventoryService, uow: FakeInventoryUnitOfWork
) -> None:
    await _product(service, uow, "A")
    await _product(service, uow, "B")
    order = uuid.uuid4()
    published = await _run(uow, _reserve(order, ("A", 2), ("B", 9)), service.reserve)
    assert [m.type for m in published] == ["StockRejected"]
    assert isinstance(published[0], StockRejected)
    assert published[0].unavailable == ["B"]
    assert uow.stock.items["A"].available == 5  # nothing held for the possible line


async def test_a_granted_reservation_announces_itself_and_the_new_counts(
    service: InventoryService, uow: FakeInventoryUnitOfWork
) -> None:
    await _product(service, uow, "A")
    published = await _run(uow, _reserve(uuid.uuid4(), ("A", 2)), service.reserve)
    assert [m.type for m in published] == ["StockReserved", "StockChanged"]
    changed = published[1]
    assert isinstance(changed, StockChanged)
    assert (changed.sku, changed.available) == ("A", 3)


async def test_the_same_reserve_command_twice_holds_the_units_once(
    service: InventoryService, uow: FakeInventoryUnitOfWork
) -> None:
    await _product(service, uow, "A")
    command = _reserve(uuid.uuid4(), ("A", 2))
    await _run(uow, command, service.reserve)
    again = await _run(uow, command, service.reserve)
    assert [m.type for m in again] == ["StockReserved"]
    assert uow.stock.items["A"].reserved == 2


async def test_commit_sells_what_was_reserved(
    service: InventoryService, uow: FakeInventoryUnitOfWork
) -> None:
    await _product(service, uow, "A")
    order = uuid.uuid4()
    await _run(uow, _reserve(order, ("A", 2)), service.reserve)
    published = await _run(uow, CommitStock(order_id=order), service.commit)
    assert "StockCommitted" in [m.type for m in published]
    item = uow.stock.items["A"]
    assert (item.sold, item.reserved, item.on_hand) == (2, 0, 3)
    assert item.invariant_holds()


async def test_commit_without_a_reservation_is_refused(
    service: InventoryService, uow: FakeInventoryUnitOfWork
) -> None:
    published = await _run(uow, CommitStock(order_id=uuid.uuid4()), service.commit)
    assert [m.type for m in published] == ["StockCommitRefused"]


async def test_release_of_an_unknown_order_is_remembered_so_a_late_reserve_takes_nothing(
    service: InventoryService, uow: FakeInventoryUnitOfWork
) -> None:
    await _product(service, uow, "A")
    order = uuid.uuid4()
    released = await _run(uow, ReleaseStock(order_id=order), service.release)
    assert [m.type for m in released] == ["StockReleased"]
    await _run(uow, _reserve(order, ("A", 2)), service.reserve)
    assert uow.stock.items["A"].reserved == 0


async def test_a_reservation_past_its_deadline_expires_and_returns_its_units(
    service: InventoryService, uow: FakeInventoryUnitOfWork, clock: Clock
) -> None:
    await _product(service, uow, "A")
    order = uuid.uuid4()
    await _run(uow, _reserve(order, ("A", 4)), service.reserve)
    assert await service.expired(uow, 10) == []
    clock.now = NOW + TTL + timedelta(seconds=1)
    assert await service.expired(uow, 10) == [order]
    assert await service.expire(order, uow)
    assert uow.stock.items["A"].available == 5
    assert not await service.expire(order, uow)  # once only


async def test_a_discontinued_product_takes_no_new_reservations(
    service: InventoryService, uow: FakeInventoryUnitOfWork
) -> None:
    await _product(service, uow, "A")
    await _run(uow, ProductDeleted(product_id=uuid.uuid4(), sku="A"), service.product_deleted)
    published = await _run(uow, _reserve(uuid.uuid4(), ("A", 1)), service.reserve)
    assert [m.type for m in published] == ["StockRejected"]


async def test_an_admin_count_is_recorded_and_announced(
    service: InventoryService, uow: FakeInventoryUnitOfWork
) -> None:
    await _product(service, uow, "A")
    async with uow:
        item = await service.set_on_hand("A", 9, "admin-1", uow)
        await uow.commit()
    assert item.on_hand == 9
    assert [(a.on_hand_before, a.on_hand_after) for a in uow.stock.adjustments] == [(5, 9)]
    assert uow.published[-1].type == "StockChanged"


async def test_an_admin_count_for_an_unknown_sku_is_refused(
    service: InventoryService, uow: FakeInventoryUnitOfWork
) -> None:
    async with uow:
        with pytest.raises(UnknownItemError):
            await service.set_on_hand("NOPE", 1, "admin-1", uow)
    assert uow.commits == 0


async def test_what_a_rolled_back_use_case_published_is_never_sent(
    service: InventoryService, uow: FakeInventoryUnitOfWork
) -> None:
    await _product(service, uow, "A")
    sent = len(uow.published)
    async with uow:
        await service.reserve(_reserve(uuid.uuid4(), ("A", 1)), uow)
        # no commit: the transaction rolls back
    assert len(uow.published) == sent
    assert uow.rollbacks == 1
