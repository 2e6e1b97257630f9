"""Payments' domain: the payment intent and the card rules, plain Python, no framework."""

from emporium.services.payments.domain.cards import Card, CardError, Outcome, brand_of, luhn_valid
from emporium.services.payments.domain.events import (
    Authorized,
    Captured,
    CaptureRefused,
    Declined,
    DomainEvent,
    Refunded,
    Voided,
)
from emporium.services.payments.domain.model import (
    CANCELLED_BEFORE_AUTHORIZATION,
    IllegalTransition,
    PaymentError,
    PaymentIntent,
    PaymentStatus,
)

__all__ = [
    "CANCELLED_BEFORE_AUTHORIZATION",
    "Authorized",
    "CaptureRefused",
    "Captured",
    "Card",
    "CardError",
    "Declined",
    "DomainEvent",
    "IllegalTransition",
    "Outcome",
    "PaymentError",
    "PaymentIntent",
    "PaymentStatus",
    "Refunded",
    "Voided",
    "brand_of",
    "luhn_valid",
]
