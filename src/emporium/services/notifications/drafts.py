"""What each event tells the customer, in plain English. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from emporium.contracts.money import Money
from emporium.contracts.orders import OrderCancelled, OrderConfirmed
from emporium.contracts.shipping import ShipmentDispatched

__all__ = ["Draft", "Kind", "cancelled", "confirmed", "order_ref", "price", "shipped"]


class Kind(StrEnum):
    ORDER_CONFIRMED = "order_confirmed"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_SHIPPED = "order_shipped"


@dataclass(frozen=True)
class Draft:
    """A message to store for one customer about one order."""

    user_id: UUID
    order_id: UUID
    kind: Kind
    subject: str
    body: str


REASONS = {
    "OUT_OF_STOCK": "an item is out of stock",
    "PAYMENT_DECLINED": "payment declined",
    "TIMEOUT": "it could not be completed in time",
    "CUSTOMER_CANCELLED": "you cancelled it",
}


def order_ref(order_id: UUID) -> str:
    """The short order reference customers see (the id's first 8 hex digits)."""
    return order_id.hex[:8]


def price(money: Money) -> str:
    value = f"{money.amount // 100:,}.{money.amount % 100:02d}"
    return f"${value}" if money.currency == "USD" else f"{value} {money.currency}"


def confirmed(event: OrderConfirmed) -> Draft:
    ref = order_ref(event.order_id)
    units = sum(line.quantity for line in event.lines)
    items = f"{units} item" if units == 1 else f"{units} items"
    return Draft(
        event.user_id,
        event.order_id,
        Kind.ORDER_CONFIRMED,
        f"Your order {ref} is confirmed",
        f"Thank you! Your order {ref} ({items}, {price(event.total)}) is confirmed and "
        "paid. We will tell you when it ships.",
    )


def cancelled(event: OrderCancelled) -> Draft:
    ref = order_ref(event.order_id)
    reason = REASONS.get(event.reason, event.reason.replace("_", " ").lower())
    return Draft(
        event.user_id,
        event.order_id,
        Kind.ORDER_CANCELLED,
        f"Your order {ref} was cancelled: {reason}",
        f"Your order {ref} was cancelled: {reason}. You have not been charged for it; "
        "any amount held on your card is released.",
    )


def shipped(event: ShipmentDispatched) -> Draft:
    ref = order_ref(event.order_id)
    return Draft(
        event.user_id,
        event.order_id,
        Kind.ORDER_SHIPPED,
        f"Your order {ref} has shipped: tracking {event.tracking_number}",
        f"Good news: your order {ref} has shipped with {event.carrier}, "
        f"tracking number {event.tracking_number}.",
    )
