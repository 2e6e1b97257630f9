"""Every message orders consumes, and the saga step it drives (one explicit table)."""

from __future__ import annotations

from emporium.chassis.messaging import Handler
from emporium.contracts import Message
from emporium.contracts.inventory import (
    StockCommitRefused,
    StockCommitted,
    StockRejected,
    StockReserved,
)
from emporium.contracts.payments import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentCaptureRefused,
    PaymentDeclined,
)
from emporium.contracts.shipping import ShipmentDispatched
from emporium.services.orders.service_layer import Saga


def message_handlers(saga: Saga) -> dict[type[Message], Handler]:
    """The chassis runs each with its inbox row: one effect per message id."""
    return {
        StockReserved: saga.stock_reserved,
        StockRejected: saga.stock_rejected,
        StockCommitted: saga.stock_committed,
        StockCommitRefused: saga.stock_commit_refused,
        PaymentAuthorized: saga.payment_authorized,
        PaymentDeclined: saga.payment_declined,
        PaymentCaptured: saga.payment_captured,
        PaymentCaptureRefused: saga.payment_capture_refused,
        ShipmentDispatched: saga.shipment_dispatched,
    }
