"""A shipment's life: CREATED, then DISPATCHED or CANCELLED, never both.

Plain classes, no framework imports. The store applies transitions with
conditional UPDATEs guarded by :func:`sources_of`, so the rule here is also the
rule the database enforces when replicas race.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

__all__ = ["Shipment", "ShipmentStatus", "new_tracking_number", "sources_of"]


class ShipmentStatus(StrEnum):
    CREATED = "CREATED"
    DISPATCHED = "DISPATCHED"
    CANCELLED = "CANCELLED"

    def can_become(self, target: ShipmentStatus) -> bool:
        return target in _TRANSITIONS[self]


_TRANSITIONS: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    ShipmentStatus.CREATED: frozenset({ShipmentStatus.DISPATCHED, ShipmentStatus.CANCELLED}),
    ShipmentStatus.DISPATCHED: frozenset(),
    ShipmentStatus.CANCELLED: frozenset(),
}


def sources_of(target: ShipmentStatus) -> tuple[ShipmentStatus, ...]:
    """The statuses from which ``target`` may be reached (the WHERE of an UPDATE)."""
    return tuple(status for status in ShipmentStatus if status.can_become(target))


def new_tracking_number() -> str:
    # Random rather than derived from the order id: a tracking number shown to a
    # carrier or a courier must not reveal the order it belongs to.
    return f"EMP{secrets.token_hex(6).upper()}"


@dataclass(frozen=True)
class Shipment:
    """One order's parcel. ``dispatch_after`` is when the dispatcher may send it."""

    order_id: UUID
    user_id: UUID
    tracking_number: str
    carrier: str
    country: str
    status: ShipmentStatus
    created_at: datetime
    dispatch_after: datetime
    dispatched_at: datetime | None = None
    cancelled_at: datetime | None = None

    @classmethod
    def create(
        cls,
        order_id: UUID,
        user_id: UUID,
        *,
        carrier: str,
        country: str,
        now: datetime,
        delay: timedelta,
    ) -> Shipment:
        return cls(
            order_id=order_id,
            user_id=user_id,
            tracking_number=new_tracking_number(),
            carrier=carrier,
            country=country,
            status=ShipmentStatus.CREATED,
            created_at=now,
            dispatch_after=now + delay,
        )

    def is_due(self, now: datetime) -> bool:
        return self.status.can_become(ShipmentStatus.DISPATCHED) and self.dispatch_after <= now

    def readable_by(self, user_id: UUID, *, admin: bool) -> bool:
        return admin or user_id == self.user_id
