"""The use cases. Each takes the caller's unit of work and never commits it: a message
handler's transaction also holds its inbox row, a route's or a sweeper's is committed
by the chassis ``transactionally``. Integration events go to the outbox in that same
transaction (``uow.publish``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from uuid import UUID

from emporium.chassis import Clock, utcnow
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
from emporium.services.inventory.adapters.repository import StockRepository
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
from emporium.services.inventory.service_layer.unit_of_work import InventoryUnitOfWork

logger = logging.getLogger(__name__)


class UnknownItemError(LookupError):
    pass


class InventoryService:
    """Inventory's rules applied in a unit of work, with the answers in its outbox."""

    def __init__(
        self, *, reservation_ttl: timedelta, initial_stock: int, clock: Clock = utcnow
    ) -> None:
        self.reservation_ttl = reservation_ttl
        self.initial_stock = initial_stock
        self.clock = clock

    # -- catalog events ------------------------------------------------------

    async def product_created(self, event: ProductCreated, uow: InventoryUnitOfWork) -> None:
        """A stock item for every new product; a product seen before is left alone."""
        repository = uow.stock
        if await repository.item(event.sku) is not None:
            logger.info("stock item %s exists already", event.sku)
            return
        repository.add(StockItem(event.sku, str(event.product_id), self.initial_stock))

    async def product_deleted(self, event: ProductDeleted, uow: InventoryUnitOfWork) -> None:
        """The SKU takes no new reservations; its counters and history stay."""
        items = await uow.stock.lock_items([event.sku])
        if event.sku in items:
            items[event.sku].discontinue()

    # -- the saga's commands -------------------------------------------------

    async def reserve(self, command: ReserveStock, uow: InventoryUnitOfWork) -> Reservation:
        repository = uow.stock
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
        await self._publish(uow, reservation, items.values())
        return reservation

    async def commit(self, command: CommitStock, uow: InventoryUnitOfWork) -> Reservation | None:
        _, reservation, items = await self._locked(uow, command.order_id)
        if reservation is None:
            await uow.publish(StockCommitRefused(order_id=command.order_id, reason="NOT_RESERVED"))
            return None
        reservation.commit(items, self.clock())
        await self._publish(uow, reservation, items.values())
        return reservation

    async def release(self, command: ReleaseStock, uow: InventoryUnitOfWork) -> Reservation:
        repository, reservation, items = await self._locked(uow, command.order_id)
        if reservation is None:
            reservation = Reservation.released_unknown(command.order_id, self.clock())
            repository.add(reservation)
        else:
            reservation.release(items, self.clock())
        await self._publish(uow, reservation, items.values())
        return reservation

    async def expire(self, order_id: UUID, uow: InventoryUnitOfWork) -> bool:
        """Release one reservation if it is still held past its deadline (else nothing)."""
        _, reservation, items = await self._locked(uow, order_id)
        if reservation is None or not reservation.expire(items, self.clock()):
            return False
        await self._publish(uow, reservation, items.values())
        return True

    async def expired(self, uow: InventoryUnitOfWork, limit: int) -> list[UUID]:
        return await uow.stock.expired(self.clock(), limit)

    # -- admin ---------------------------------------------------------------

    async def set_on_hand(
        self, sku: str, on_hand: int, actor: str, uow: InventoryUnitOfWork
    ) -> StockItem:
        """An admin count; refused below what is reserved (``BelowReservedError``)."""
        repository = uow.stock
        item = (await repository.lock_items([sku])).get(sku)
        if item is None:
            raise UnknownItemError(sku)
        before = item.on_hand
        if item.set_on_hand(on_hand):
            repository.add(Adjustment(sku, before, on_hand, actor, self.clock()))
        await self._publish(uow, None, [item])
        return item

    # -- plumbing --------------------------------------------------------------

    async def _locked(
        self, uow: InventoryUnitOfWork, order_id: UUID
    ) -> tuple[StockRepository, Reservation | None, dict[str, StockItem]]:
        # Items before the reservation row, as reserve() does: one lock order.
        # Lines never change, so the unlocked first read names the right SKUs.
        repository = uow.stock
        first = await repository.reservation(order_id)
        if first is None:
            return repository, None, {}
        items = await repository.lock_items(first.skus)
        return repository, await repository.reservation(order_id, lock=True), items

    async def _publish(
        self, uow: InventoryUnitOfWork, reservation: Reservation | None, items: Iterable[StockItem]
    ) -> None:
        events: list[DomainEvent] = reservation.collect_events() if reservation else []
        latest: dict[str, AvailabilityChanged] = {}
        for item in items:
            for event in item.collect_events():
                if isinstance(event, AvailabilityChanged):
                    latest[event.sku] = event  # one StockChanged per SKU: the final count
        for event in [*events, *latest.values()]:
            await uow.publish(_integration_event(event))


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
