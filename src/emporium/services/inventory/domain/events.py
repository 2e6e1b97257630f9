"""Domain events: what an aggregate says happened, in-process only.

The service layer turns them into integration events (``emporium.contracts.inventory``)
in the outbox of the same transaction; the domain knows nothing of the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class AvailabilityChanged:
    sku: str
    available: int


@dataclass(frozen=True)
class Reserved:
    order_id: UUID
    lines: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Rejected:
    order_id: UUID
    reason: str
    unavailable: tuple[str, ...]


@dataclass(frozen=True)
class Committed:
    order_id: UUID


@dataclass(frozen=True)
class CommitRefused:
    """A commit that cannot happen: the reservation expired, was released or never was."""

    order_id: UUID
    reason: str


@dataclass(frozen=True)
class Released:
    order_id: UUID
    reason: str


DomainEvent = AvailabilityChanged | Reserved | Rejected | Committed | CommitRefused | Released
