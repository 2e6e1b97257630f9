"""Payments' commands (sent by the orders saga) and its events.

Card numbers never travel in messages: orders exchanges the card for a
``card_token`` with payments (``POST /api/payments/cards``) while it handles
``POST /api/orders``, and only the token, brand and last four digits go on.
"""

from __future__ import annotations

from uuid import UUID

from emporium.contracts._base import IntegrationEvent, Message
from emporium.contracts.money import Money


class AuthorizePayment(Message):
    type = "AuthorizePayment"
    context = "payments"

    order_id: UUID
    user_id: UUID
    amount: Money
    card_token: str


class CapturePayment(Message):
    type = "CapturePayment"
    context = "payments"

    order_id: UUID


class VoidPayment(Message):
    """Cancel an authorization that was not captured (compensation). Idempotent."""

    type = "VoidPayment"
    context = "payments"

    order_id: UUID
    reason: str = ""


class RefundPayment(Message):
    """Return a captured payment (compensation after confirmation). Idempotent."""

    type = "RefundPayment"
    context = "payments"

    order_id: UUID
    reason: str = ""


class PaymentAuthorized(IntegrationEvent):
    type = "PaymentAuthorized"
    context = "payments"

    order_id: UUID
    payment_id: UUID
    amount: Money


class PaymentDeclined(IntegrationEvent):
    type = "PaymentDeclined"
    context = "payments"

    order_id: UUID
    reason: str  # "card_declined", "insufficient_funds", "expired_card", ...


class PaymentCaptured(IntegrationEvent):
    type = "PaymentCaptured"
    context = "payments"

    order_id: UUID
    amount: Money


class PaymentVoided(IntegrationEvent):
    type = "PaymentVoided"
    context = "payments"

    order_id: UUID


class PaymentRefunded(IntegrationEvent):
    type = "PaymentRefunded"
    context = "payments"

    order_id: UUID
    amount: Money


class PaymentCaptureRefused(IntegrationEvent):
    """A capture that cannot happen: the payment was never authorized, was declined
    or voided. Nothing was taken; the saga should compensate (added in v1, additive)."""

    type = "PaymentCaptureRefused"
    context = "payments"

    order_id: UUID
    reason: str  # the intent's status, or "NOT_AUTHORIZED" for an unknown order
