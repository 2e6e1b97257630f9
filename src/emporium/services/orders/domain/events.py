"""Domain events: what the Order aggregate records, in-process only.

As the saga's orchestrator, what an order records is both what happened to it
(``OrderConfirmed``, ...) and what it decided participants must do next
(``ReserveStock``, ...). Plain data, no framework: the service layer turns each
into its integration message (``emporium.contracts``) and puts it in the outbox
in the same transaction as the order's change.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class ReserveStock:
    order_id: UUID
    lines: tuple[tuple[str, int], ...]  # (sku, quantity)


@dataclass(frozen=True)
class ReleaseStock:
    """Compensates ReserveStock (and CommitStock: inventory takes sold, unshipped units back)."""

    order_id: UUID
    reason: str


@dataclass(frozen=True)
class CommitStock:
    order_id: UUID


@dataclass(frozen=True)
class AuthorizePayment:
    order_id: UUID
    user_id: UUID
    amount: int
    currency: str
    card_token: str


@dataclass(frozen=True)
class VoidPayment:
    """Compensates AuthorizePayment while nothing was captured."""

    order_id: UUID
    reason: str


@dataclass(frozen=True)
class CapturePayment:
    order_id: UUID


@dataclass(frozen=True)
class RefundPayment:
    """Compensates CapturePayment."""

    order_id: UUID
    reason: str


@dataclass(frozen=True)
class OrderPlaced:
    order_id: UUID


@dataclass(frozen=True)
class OrderConfirmed:
    order_id: UUID


@dataclass(frozen=True)
class OrderCancelled:
    order_id: UUID
    reason: str


@dataclass(frozen=True)
class OrderShipped:
    order_id: UUID
    tracking_number: str


DomainEvent = (
    ReserveStock
    | ReleaseStock
    | CommitStock
    | AuthorizePayment
    | VoidPayment
    | CapturePayment
    | RefundPayment
    | OrderPlaced
    | OrderConfirmed
    | OrderCancelled
    | OrderShipped
)
