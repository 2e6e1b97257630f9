"""Domain events: what a payment intent says happened, in-process only.

The service layer turns them into integration events (``emporium.contracts.payments``)
in the outbox of the same transaction; the domain knows nothing of the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Authorized:
    order_id: UUID
    payment_id: UUID
    amount: int
    currency: str


@dataclass(frozen=True)
class Declined:
    order_id: UUID
    reason: str


@dataclass(frozen=True)
class Captured:
    order_id: UUID
    amount: int
    currency: str


@dataclass(frozen=True)
class CaptureRefused:
    """A capture that cannot happen: never authorized, declined or voided."""

    order_id: UUID
    reason: str


@dataclass(frozen=True)
class Voided:
    order_id: UUID


@dataclass(frozen=True)
class Refunded:
    order_id: UUID
    amount: int
    currency: str


DomainEvent = Authorized | Declined | Captured | CaptureRefused | Voided | Refunded
