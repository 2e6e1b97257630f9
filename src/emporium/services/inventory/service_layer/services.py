"""The use cases. Each takes the caller's unit of work and never commits it: a message
handler's transaction also holds its inbox row, a route's is committed by
:func:`transactionally`. Integration events go to the outbox in that same transaction.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar
from uuid import UUID

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from emporium.chassis import Database, UnitOfWork
from emporium.contracts import Message
from emporium.contracts.catalog import ProductCreated, ProductDeleted
from emporium.contracts.inventory import (
    CommitStock,
    ReleaseStock,
    ReserveStock,
    StockChanged,
    StockCommitRefused,
    StockCommitted,
    StockLine,
    StockRejected,
    StockReleased,
    StockReserved,
)
from emporium.services.inventory.adapters.repository import InventoryRepository
from emporium.services.inventory.domain import (
    Adjustment,
    AvailabilityChanged,
    CommitRefused,
    Committed,
    DomainEvent,
    Line,
    Rejected,
    Released,
    Reservation,
    Reserved,
    StockItem,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


def utcnow() -> datetime:
    """Naive UTC, which every supported database stores and compares alike."""
    return datetime.now(UTC).replace(tzinfo=None)


class Publisher(Protocol):
    """Where integration events go: the chassis ``Outbox`` (in the caller's transaction)."""

    async def add(self, session: AsyncSession, message: Message) -> None: ...


class UnknownItemError(LookupError):
    pass


class InventoryService:
    """Inventory's rules applied in a unit of work, with the answers in its outbox."""

    def __init__(
        self,
        publisher: Publisher,
        *,
        reservation_ttl: timedelta,
        initial_stock: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.publisher = publisher
        self.reservation_ttl = reservation_ttl
        self.initial_stock = initial_stock
        self.clock = clock

    # -- catalog events ------------------------------------------------------

    async def product_created(self, event: ProductCreated, uow: UnitOfWork) -> None:
        """A stock item for every new product; a product seen before is left alone."""
        repository = InventoryRepository(uow.session)
        if await repository.item(event.sku) is not None:
            logger.info("stock item %s exists already", event.sku)
            return
        repository.add(StockItem(event.sku, str(event.product_id), self.initial_stock))

    async def product_deleted(self, event: ProductDeleted, uow: UnitOfWork) -> None:
        """The SKU takes no new reservations; its counters and history stay."""
        items = await InventoryRepository(uow.session).lock_items([event.sku])
        if event.sku in items:
            items[event.sku].discontinue()

    # -- the saga's commands -------------------------------------------------

    async def reserve(self, command: ReserveStock, uow: UnitOfWork) -> Reservation:
        repository = InventoryRepository(uow.session)
        items = await repository.lock_items([line.sku for line in command.lines])
        reservation = await repository.reservation(command.order_id, lock=True)
        if reservation is not None:
            reservation.answer_again()
        else:
            lines = [Line(line.sku, line.quantity) for line in command.lines]
            reservation = Reservation.place(
                command.order_id, lines, items, self.clock(), self.reservation_ttl
            )
            repository.add(reservation)
        await self._publish(uow.session, reservation, items.values())
        return reservation

    async def commit(self, command: CommitStock, uow: UnitOfWork) -> Reservation | None:
        _, reservation, items = await self._locked(uow, command.order_id)
        if reservation is None:
            refusal = StockCommitRefused(order_id=command.order_id, reason="NOT_RESERVED")
            await self.publisher.add(uow.session, refusal)
            return None
        reservation.commit(items, self.clock())
        await self._publish(uow.session, reservation, items.values())
        return reservation

    async def release(self, command: ReleaseStock, uow: UnitOfWork) -> Reservation:
        repository, reservation, items = await self._locked(uow, command.order_id)
        if reservation is None:
            reservation = Reservation.released_unknown(command.order_id, self.clock())
            repository.add(reservation)
        else:
            reservation.release(items, self.clock())
        await self._publish(uow.session, reservation, items.values())
        return reservation

    async def expire(self, order_id: UUID, uow: UnitOfWork) -> bool:
        """Release one reservation if it is still held past its deadline (else nothing)."""
        _, reservation, items = await self._locked(uow, order_id)
        if reservation is None or not reservation.expire(items, self.clock()):
            return False
        await self._publish(uow.session, reservation, items.values())
        return True

    async def expired(self, uow: UnitOfWork, limit: int) -> list[UUID]:
        return await InventoryRepository(uow.session).expired(self.clock(), limit)

    # -- admin ---------------------------------------------------------------

    async def set_on_hand(self, sku: str, on_hand: int, actor: str, uow: UnitOfWork) -> StockItem:
        """An admin count; refused below what is reserved (``BelowReservedError``)."""
        repository = InventoryRepository(uow.session)
        item = (await repository.lock_items([sku])).get(sku)
        if item is None:
            raise UnknownItemError(sku)
        before = item.on_hand
        if item.set_on_hand(on_hand):
            repository.add(Adjustment(sku, before, on_hand, actor, self.clock()))
        await self._publish(uow.session, None, [item])
        return item

    # -- plumbing --------------------------------------------------------------

    async def _locked(
        self, uow: UnitOfWork, order_id: UUID
    ) -> tuple[InventoryRepository, Reservation | None, dict[str, StockItem]]:
        # Items before the reservation row, as reserve() does: one lock order.
        # Lines never change, so the unlocked first read names the right SKUs.
        repository = InventoryRepository(uow.session)
        first = await repository.reservation(order_id)
        if first is None:
            return repository, None, {}
        items = await repository.lock_items(first.skus)
        return repository, await repository.reservation(order_id, lock=True), items

    async def _publish(
        self, session: AsyncSession, reservation: Reservation | None, items: Iterable[StockItem]
    ) -> None:
        events: list[DomainEvent] = reservation.collect_events() if reservation else []
        latest: dict[str, AvailabilityChanged] = {}
        for item in items:
            for event in item.collect_events():
                if isinstance(event, AvailabilityChanged):
                    latest[event.sku] = event  # one StockChanged per SKU: the final count
        for event in [*events, *latest.values()]:
            await self.publisher.add(session, _integration_event(event))


def _integration_event(event: DomainEvent) -> Message:
    match event:
        case Reserved(order_id, lines):
            stock = [StockLine(sku=sku, quantity=quantity) for sku, quantity in lines]
            return StockReserved(order_id=order_id, lines=stock)
        case Rejected(order_id, reason, unavailable):
            return StockRejected(order_id=order_id, reason=reason, unavailable=list(unavailable))
        case Committed(order_id):
            return StockCommitted(order_id=order_id)
        case CommitRefused(order_id, reason):
            return StockCommitRefused(order_id=order_id, reason=reason)
        case Released(order_id, reason):
            return StockReleased(order_id=order_id, reason=reason)
        case AvailabilityChanged(sku, available):
            return StockChanged(sku=sku, available=available)
    raise TypeError(f"no integration event for {event!r}")  # pragma: no cover


def _transient(exc: Exception) -> bool:
    if isinstance(exc, StaleDataError | IntegrityError):
        return True
    # Deadlock, serialization failure or "database is locked": try again.
    return (
        isinstance(exc, DBAPIError)
        and exc.connection_invalidated is False
        and any(marker in str(exc.orig).lower() for marker in ("deadlock", "serializ", "locked"))
    )


async def transactionally(
    database: Database, work: Callable[[UnitOfWork], Awaitable[T]], *, attempts: int = 5
) -> T:
    """Run ``work`` in a fresh unit of work and commit; retry a lost race a few times."""
    for attempt in range(1, attempts + 1):
        try:
            async with database.unit_of_work() as uow:
                result = await work(uow)
                await uow.commit()
                return result
        except Exception as exc:
            if attempt == attempts or not _transient(exc):
                raise
            await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover
