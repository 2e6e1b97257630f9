"""Stock per SKU and reservations per order, with the rules that keep I1 true.

I1, per SKU: ``initial + restocked == available + reserved + sold``, and no
counter is ever negative. :class:`StockItem` keeps every counter so the audit
can check that equation from the store alone; ``on_hand`` (units in the
warehouse, ``initial + restocked - sold``) is stored too because it is what an
admin sets and what ``available`` is computed from.

:class:`Reservation` is the per-order aggregate: its transitions are guarded
(only a ``RESERVED`` reservation commits, releases or expires) and each records
the event that answers the saga. Every operation that touches stock takes the
stock items of its lines, already locked by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from emporium.domain import Aggregate
from emporium.services.inventory.domain.events import (
    AvailabilityChanged,
    CommitRefused,
    Committed,
    DomainEvent,
    Rejected,
    Released,
    Reserved,
)


class InventoryError(Exception):
    """A request the rules refuse; the message says which rule."""


class BelowReservedError(InventoryError):
    pass


class ReservationStatus(StrEnum):
    RESERVED = "RESERVED"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


# Why a reservation was refused, most fundamental first: that is the reason reported.
UNKNOWN_SKU = "UNKNOWN_SKU"
DISCONTINUED = "DISCONTINUED"
OUT_OF_STOCK = "OUT_OF_STOCK"


class StockItem(Aggregate[DomainEvent]):
    """Units of one SKU; every change keeps I1 and records ``AvailabilityChanged``."""

    sku: str
    product_id: str
    initial: int
    restocked: int
    sold: int
    reserved: int
    on_hand: int
    discontinued: bool

    def __init__(self, sku: str, product_id: str, initial: int) -> None:
        if initial < 0:
            raise InventoryError("initial stock cannot be negative")
        self.sku, self.product_id = sku, product_id
        self.initial, self.restocked, self.sold, self.reserved = initial, 0, 0, 0
        self.on_hand = initial
        self.discontinued = False

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def refusal(self, quantity: int) -> str | None:
        """Why ``quantity`` more units cannot be reserved, or None if they can."""
        if self.discontinued:
            return DISCONTINUED
        if quantity > self.available:
            return OUT_OF_STOCK
        return None

    def reserve(self, quantity: int) -> None:
        reason = self.refusal(quantity)
        if reason is not None:
            raise InventoryError(f"cannot reserve {quantity} of {self.sku}: {reason}")
        self.reserved += quantity
        self._changed()

    def release(self, quantity: int) -> None:
        if not 0 < quantity <= self.reserved:
            raise InventoryError(f"cannot release {quantity} of {self.sku}: {self.reserved} held")
        self.reserved -= quantity
        self._changed()

    def sell(self, quantity: int) -> None:
        """Reserved units leave: on hand and reserved both go down, sold goes up."""
        if not 0 < quantity <= self.reserved:
            raise InventoryError(f"cannot sell {quantity} of {self.sku}: {self.reserved} held")
        self.reserved -= quantity
        self.on_hand -= quantity
        self.sold += quantity

    def take_back(self, quantity: int) -> None:
        """Sold units that never left (an order cancelled after commit) return to stock."""
        if not 0 < quantity <= self.sold:
            raise InventoryError(f"cannot take back {quantity} of {self.sku}: {self.sold} sold")
        self.sold -= quantity
        self.on_hand += quantity
        self._changed()

    def set_on_hand(self, on_hand: int) -> int:
        """An admin count: returns the adjustment (kept in ``restocked``)."""
        if on_hand < self.reserved:
            raise BelowReservedError(
                f"on_hand {on_hand} is below the {self.reserved} units reserved for {self.sku}"
            )
        delta = on_hand - self.on_hand
        self.restocked += delta
        self.on_hand = on_hand
        if delta:
            self._changed()
        return delta

    def discontinue(self) -> None:
        """No new reservations; existing ones, counters and history stay."""
        self.discontinued = True

    def invariant_holds(self) -> bool:
        counters = (self.sold, self.reserved, self.on_hand, self.available)
        balanced = self.initial + self.restocked == self.available + self.reserved + self.sold
        return balanced and min(counters) >= 0

    def _changed(self) -> None:
        self.events.append(AvailabilityChanged(self.sku, self.available))


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


def merge_lines(lines: Iterable[Line]) -> list[Line]:
    """One line per SKU, sorted (the lock order), quantities added up."""
    totals: dict[str, int] = {}
    for line in lines:
        if line.quantity < 1:
            raise InventoryError(f"quantity of {line.sku} must be at least 1")
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return [Line(sku, totals[sku]) for sku in sorted(totals)]


class ReservationLine:
    sku: str
    quantity: int

    def __init__(self, sku: str, quantity: int) -> None:
        self.sku, self.quantity = sku, quantity


Items = Mapping[str, StockItem]


class Reservation(Aggregate[DomainEvent]):
    """An order's hold on stock: all of its lines or none, until committed, released
    or expired. Asking again gives the same answer and never holds twice."""

    order_id: UUID
    status: str
    reason: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    lines: list[ReservationLine]

    def __init__(
        self, order_id: UUID, status: ReservationStatus, reason: str, now: datetime
    ) -> None:
        self.order_id, self.status, self.reason = order_id, status, reason
        self.created_at = self.updated_at = now
        self.expires_at = None
        self.lines = []

    @classmethod
    def place(
        cls, order_id: UUID, lines: Iterable[Line], items: Items, now: datetime, ttl: timedelta
    ) -> Reservation:
        """Reserve every line or none; a refusal is stored too, so it is answered alike."""
        wanted = merge_lines(lines)
        refusals: dict[str, list[str]] = {}
        for line in wanted:
            item = items.get(line.sku)
            reason = UNKNOWN_SKU if item is None else item.refusal(line.quantity)
            if reason is not None:
                refusals.setdefault(reason, []).append(line.sku)
        if not wanted:
            refusals[UNKNOWN_SKU] = []
        if refusals:
            reason = next(r for r in (UNKNOWN_SKU, DISCONTINUED, OUT_OF_STOCK) if r in refusals)
            rejected = cls(order_id, ReservationStatus.REJECTED, reason, now)
            rejected.lines = [ReservationLine(line.sku, line.quantity) for line in wanted]
            rejected.events.append(Rejected(order_id, reason, tuple(refusals[reason])))
            return rejected
        reservation = cls(order_id, ReservationStatus.RESERVED, "", now)
        reservation.expires_at = now + ttl
        for line in wanted:
            items[line.sku].reserve(line.quantity)
            reservation.lines.append(ReservationLine(line.sku, line.quantity))
        reservation.events.append(reservation._reserved())
        return reservation

    @classmethod
    def released_unknown(cls, order_id: UUID, now: datetime) -> Reservation:
        """A release for an order never reserved: remembered, so a late reserve is refused."""
        tombstone = cls(order_id, ReservationStatus.RELEASED, "NOT_RESERVED", now)
        tombstone.events.append(Released(order_id, "NOT_RESERVED"))
        return tombstone

    @property
    def skus(self) -> list[str]:
        return sorted(line.sku for line in self.lines)

    def is_expired(self, now: datetime) -> bool:
        return (
            self.status == ReservationStatus.RESERVED
            and self.expires_at is not None
            and now >= self.expires_at
        )

    def answer_again(self) -> None:
        """A repeated reserve for this order: the same answer, nothing held twice."""
        if self.status in (ReservationStatus.RESERVED, ReservationStatus.COMMITTED):
            self.events.append(self._reserved())
        elif self.status == ReservationStatus.REJECTED:
            self.events.append(Rejected(self.order_id, self.reason, ()))
        else:  # released or expired: the units are not held any more
            self.events.append(Rejected(self.order_id, self.status, ()))

    def commit(self, items: Items, now: datetime) -> None:
        """Reserved units become sold; refused (``CommitRefused``) once expired or released."""
        if self.is_expired(now):
            self.expire(items, now)
        if self.status == ReservationStatus.RESERVED:
            for line in self.lines:
                items[line.sku].sell(line.quantity)
            self._move(ReservationStatus.COMMITTED, "", now)
        if self.status == ReservationStatus.COMMITTED:
            self.events.append(Committed(self.order_id))
        else:
            self.events.append(CommitRefused(self.order_id, self.status))

    def release(self, items: Items, now: datetime) -> None:
        """Units go back (reserved ones, or sold ones that never left); always answers."""
        if self.status == ReservationStatus.RESERVED:
            for line in self.lines:
                items[line.sku].release(line.quantity)
            self._move(ReservationStatus.RELEASED, "RELEASED", now)
        elif self.status == ReservationStatus.COMMITTED:
            for line in self.lines:
                items[line.sku].take_back(line.quantity)
            self._move(ReservationStatus.RELEASED, "RETURNED", now)
        held_before = self.status in (ReservationStatus.RELEASED, ReservationStatus.EXPIRED)
        self.events.append(Released(self.order_id, self.reason if held_before else "NOT_RESERVED"))

    def expire(self, items: Items, now: datetime) -> bool:
        """Past its deadline and still only reserved: the units go back. True if it did."""
        if not self.is_expired(now):
            return False
        for line in self.lines:
            items[line.sku].release(line.quantity)
        self._move(ReservationStatus.EXPIRED, "EXPIRED", now)
        self.events.append(Released(self.order_id, "EXPIRED"))
        return True

    def _move(self, status: ReservationStatus, reason: str, now: datetime) -> None:
        self.status, self.reason, self.updated_at = status, reason, now

    def _reserved(self) -> Reserved:
        return Reserved(self.order_id, tuple((line.sku, line.quantity) for line in self.lines))


class Adjustment:
    """An admin's count of one SKU, kept for the audit."""

    id: int
    sku: str
    on_hand_before: int
    on_hand_after: int
    actor: str
    at: datetime

    def __init__(self, sku: str, before: int, after: int, actor: str, at: datetime) -> None:
        self.sku, self.on_hand_before, self.on_hand_after = sku, before, after
        self.actor, self.at = actor, at
