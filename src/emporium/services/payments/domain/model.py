"""The payment intent: one per order, moved only by guarded transitions.

States and the only legal moves::

    REQUIRES_AUTHORIZATION ──► AUTHORIZED ──► CAPTURED ──► REFUNDED
                  │                 │
                  ▼                 ▼
               DECLINED           VOIDED

The transition methods (:meth:`PaymentIntent.authorize`, :meth:`capture`, ...)
raise :class:`IllegalTransition` from any other state. The saga's commands are
answered by the ``*_requested`` methods, which are idempotent: a repeated
command changes nothing and records the same kind of answer again, so money is
captured at most once, refunded at most once, and never more than authorized.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid4

from emporium.domain import Aggregate
from emporium.services.payments.domain.events import (
    Authorized,
    Captured,
    CaptureRefused,
    Declined,
    DomainEvent,
    Refunded,
    Voided,
)


class PaymentError(Exception):
    """A request the rules refuse; the message says which rule."""


class IllegalTransition(PaymentError):
    pass


class PaymentStatus(StrEnum):
    REQUIRES_AUTHORIZATION = "REQUIRES_AUTHORIZATION"
    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"
    REFUNDED = "REFUNDED"


# Why an intent was voided before it was ever authorized (a compensation that
# overtook its AuthorizePayment): a late authorization is declined with it.
CANCELLED_BEFORE_AUTHORIZATION = "cancelled_before_authorization"


class PaymentIntent(Aggregate[DomainEvent]):
    """The money side of one order. Amounts are integer minor units.

    Promises: ``captured_amount <= amount`` and ``refunded_amount <= captured_amount``
    always; both are set once. Domain events are recorded on :attr:`events`
    and taken with :meth:`collect_events`.
    """

    id: UUID
    order_id: UUID
    user_id: UUID | None
    amount: int
    currency: str
    status: str
    reason: str
    brand: str
    last4: str
    authorized: bool
    captured_amount: int
    refunded_amount: int
    created_at: datetime
    updated_at: datetime

    def __init__(
        self, order_id: UUID, user_id: UUID | None, amount: int, currency: str, now: datetime
    ) -> None:
        if amount < 0:
            raise PaymentError("amount cannot be negative")
        self.id, self.order_id, self.user_id = uuid4(), order_id, user_id
        self.amount, self.currency = amount, currency
        self.status, self.reason = PaymentStatus.REQUIRES_AUTHORIZATION, ""
        self.brand, self.last4 = "", ""
        self.authorized = False
        self.captured_amount = self.refunded_amount = 0
        self.created_at = self.updated_at = now

    @classmethod
    def cancelled_unknown(cls, order_id: UUID, currency: str, now: datetime) -> PaymentIntent:
        """A void or refund for an order never authorized: remembered, so that a
        late AuthorizePayment is declined instead of holding money for a dead order."""
        tombstone = cls(order_id, None, 0, currency, now)
        tombstone._move(PaymentStatus.VOIDED, now, CANCELLED_BEFORE_AUTHORIZATION)
        return tombstone

    # -- guarded transitions -----------------------------------------------------

    def authorize(self, brand: str, last4: str, now: datetime) -> None:
        self._require(PaymentStatus.REQUIRES_AUTHORIZATION, "authorize")
        self.brand, self.last4, self.authorized = brand, last4, True
        self._move(PaymentStatus.AUTHORIZED, now)
        self.events.append(self._authorized())

    def decline(self, reason: str, brand: str, last4: str, now: datetime) -> None:
        self._require(PaymentStatus.REQUIRES_AUTHORIZATION, "decline")
        self.brand, self.last4 = brand, last4
        self._move(PaymentStatus.DECLINED, now, reason)
        self.events.append(Declined(self.order_id, reason))

    def capture(self, now: datetime) -> None:
        """The whole authorized amount is taken (no partial captures)."""
        self._require(PaymentStatus.AUTHORIZED, "capture")
        self.captured_amount = self.amount
        self._move(PaymentStatus.CAPTURED, now)
        self.events.append(Captured(self.order_id, self.captured_amount, self.currency))

    def void(self, now: datetime) -> None:
        """The authorization is released; nothing was taken."""
        self._require(PaymentStatus.AUTHORIZED, "void")
        self._move(PaymentStatus.VOIDED, now)
        self.events.append(Voided(self.order_id))

    def refund(self, now: datetime) -> None:
        """Everything captured goes back (no partial refunds)."""
        self._require(PaymentStatus.CAPTURED, "refund")
        self.refunded_amount = self.captured_amount
        self._move(PaymentStatus.REFUNDED, now)
        self.events.append(Refunded(self.order_id, self.refunded_amount, self.currency))

    # -- the saga's commands, idempotent ---------------------------------------------

    def authorize_requested_again(self) -> None:
        """A repeated AuthorizePayment: the first outcome again, nothing held twice."""
        if self.authorized:
            self.events.append(self._authorized())
        else:
            self.events.append(Declined(self.order_id, self.reason or self.status.lower()))

    def capture_requested(self, now: datetime) -> None:
        """Capture once; a repeat answers ``Captured`` again; otherwise ``CaptureRefused``."""
        if self.status == PaymentStatus.AUTHORIZED:
            self.capture(now)
        elif self.status in (PaymentStatus.CAPTURED, PaymentStatus.REFUNDED):
            self.events.append(Captured(self.order_id, self.captured_amount, self.currency))
        else:
            self.events.append(CaptureRefused(self.order_id, self.status))

    def void_requested(self, now: datetime) -> None:
        """Compensation: after it, nothing is held or taken. Always answers ``Voided``.

        A captured payment cannot be voided, so it is refunded (``Refunded`` is
        recorded too): a void that left money taken would break the audit's I2.
        """
        if self.status == PaymentStatus.AUTHORIZED:
            self.void(now)
            return
        if self.status == PaymentStatus.CAPTURED:
            self.refund(now)
        self.events.append(Voided(self.order_id))

    def refund_requested(self, now: datetime) -> None:
        """Compensation: after it, nothing is held or taken. Always answers ``Refunded``
        with the amount returned by this intent (0 if nothing was ever captured)."""
        if self.status == PaymentStatus.CAPTURED:
            self.refund(now)
            return
        if self.status == PaymentStatus.AUTHORIZED:
            # Only held, never taken: releasing the hold is the refund (recorded
            # as Voided too, which is what happened to the money).
            self.void(now)
        self.events.append(Refunded(self.order_id, self.refunded_amount, self.currency))

    # -- plumbing --------------------------------------------------------------------

    def _require(self, status: PaymentStatus, action: str) -> None:
        if self.status != status:
            raise IllegalTransition(
                f"cannot {action} the payment of order {self.order_id}: it is {self.status}"
            )

    def _move(self, status: PaymentStatus, now: datetime, reason: str | None = None) -> None:
        self.status, self.updated_at = status, now
        if reason is not None:
            self.reason = reason

    def _authorized(self) -> Authorized:
        return Authorized(self.order_id, self.id, self.amount, self.currency)
