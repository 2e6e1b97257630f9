"""Who sends and who receives each message: data for the AsyncAPI document.

Events are published by the context that owns them; commands are sent by the
orders saga, which orchestrates checkout. ``CONSUMERS`` lists the services
whose handler tables take each type; a contract test keeps it equal to those
tables, so the document cannot drift from the code.
"""

from __future__ import annotations

from emporium.contracts._base import IntegrationEvent, Message

__all__ = [
    "COMMAND_SENDER",
    "CONSUMERS",
    "CONSUMING_SERVICES",
    "consumers_of",
    "producer_of",
]

COMMAND_SENDER = "orders"

CONSUMERS: dict[str, tuple[str, ...]] = {
    "AuthorizePayment": ("payments",),
    "CapturePayment": ("payments",),
    "CommitStock": ("inventory",),
    "OrderCancelled": ("notifications", "shipping"),
    "OrderConfirmed": ("cart", "notifications", "recommendations", "shipping"),
    "PaymentAuthorized": ("orders",),
    "PaymentCaptureRefused": ("orders",),
    "PaymentCaptured": ("orders",),
    "PaymentDeclined": ("orders",),
    "PriceChanged": ("cart",),
    "ProductCreated": ("inventory", "recommendations"),
    "ProductDeleted": ("cart", "inventory", "recommendations"),
    "ProductUpdated": ("recommendations",),
    "RefundPayment": ("payments",),
    "ReleaseStock": ("inventory",),
    "ReserveStock": ("inventory",),
    "ShipmentDispatched": ("notifications", "orders"),
    "StockCommitRefused": ("orders",),
    "StockCommitted": ("orders",),
    "StockRejected": ("orders",),
    "StockReserved": ("orders",),
    "VoidPayment": ("payments",),
}

# Every service that consumes messages, so has dead letters (the ops page, the CLI).
CONSUMING_SERVICES: tuple[str, ...] = tuple(sorted({s for c in CONSUMERS.values() for s in c}))


def producer_of(message_type: type[Message]) -> str:
    return message_type.context if issubclass(message_type, IntegrationEvent) else COMMAND_SENDER


def consumers_of(message_type: type[Message]) -> tuple[str, ...]:
    return CONSUMERS.get(message_type.type, ())
