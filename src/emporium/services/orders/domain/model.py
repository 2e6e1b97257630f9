"""The Order aggregate and the checkout saga it carries.

The order is the saga's durable state: its ``status``, the ``step`` it waits in,
that step's ``deadline``, and one flag per thing asked of a participant or
answered by it. Every transition is a method guarded by that state; it records
what must be sent next (:mod:`.events`) and never raises for a reply that
arrives late, twice or out of order: such a reply is a no-op or triggers the
compensation of what it reports. Every side effect the saga asks for has its
compensation:

==================  =========================================================
ReserveStock        ReleaseStock
AuthorizePayment    VoidPayment
CapturePayment      RefundPayment
CommitStock         ReleaseStock (inventory takes back sold, unshipped units)
==================  =========================================================
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from emporium.domain import Aggregate
from emporium.services.orders.domain import events as ev


class Status(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"


class Reason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    TIMEOUT = "TIMEOUT"
    CUSTOMER_CANCELLED = "CUSTOMER_CANCELLED"


class Step(StrEnum):
    """Where a PENDING order waits; DONE once it has left PENDING."""

    RESERVING = "RESERVING"  # ReserveStock sent
    AUTHORIZING = "AUTHORIZING"  # AuthorizePayment sent
    CONFIRMING = "CONFIRMING"  # CapturePayment and CommitStock sent
    DONE = "DONE"


class CannotCancelError(Exception):
    """The order is shipped or cancelled already."""


class OrderLine:
    """One line as the cart showed it when the order was placed (a snapshot)."""

    def __init__(
        self, product_id: UUID, sku: str, name: str, quantity: int, unit_price: int
    ) -> None:
        self.product_id = product_id
        self.sku = sku
        self.name = name
        self.quantity = quantity
        self.unit_price = unit_price

    @property
    def line_total(self) -> int:
        return self.quantity * self.unit_price


class HistoryEntry:
    def __init__(self, status: str, at: datetime, reason: str = "") -> None:
        self.status = status
        self.at = at
        self.reason = reason


class Order(Aggregate[ev.DomainEvent]):
    """An order and its saga. Amounts are integer minor units in ``currency``.

    Promises: it leaves PENDING exactly once (to CONFIRMED or CANCELLED); it is
    CONFIRMED only after the payment was captured and the stock committed; once
    CANCELLED, everything a participant reports having done is compensated.
    """

    id: UUID
    user_id: UUID
    status: str
    reason: str
    step: str
    deadline: datetime | None
    lines: list[OrderLine]
    history: list[HistoryEntry]
    created_at: datetime
    updated_at: datetime
    tracking_number: str
    # What was asked of the participants, and what they answered.
    stock_requested: bool
    stock_reserved: bool
    stock_committed: bool
    release_requested: bool
    authorization_requested: bool
    payment_authorized: bool
    capture_requested: bool
    payment_captured: bool
    void_requested: bool
    refund_requested: bool

    def __init__(
        self,
        *,
        id: UUID,
        user_id: UUID,
        lines: list[OrderLine],
        shipping: int,
        currency: str,
        shipping_address: dict[str, Any],
        card_token: str,
        card_brand: str,
        card_last4: str,
        idempotency_key: str,
        request_hash: str,
        now: datetime,
    ) -> None:
        if not lines:
            raise ValueError("an order needs at least one line")
        self.id = id
        self.user_id = user_id
        self.lines = list(lines)
        self.items_total = sum(line.line_total for line in lines)
        self.shipping = shipping
        self.total = self.items_total + shipping
        self.currency = currency
        self.shipping_address = dict(shipping_address)
        self.card_token = card_token
        self.card_brand = card_brand
        self.card_last4 = card_last4
        self.idempotency_key = idempotency_key
        self.request_hash = request_hash
        self.status = Status.PENDING
        self.reason = ""
        self.step = Step.RESERVING
        self.deadline = None
        self.tracking_number = ""
        self.created_at = self.updated_at = now
        self.history = []
        self.stock_requested = self.stock_reserved = self.stock_committed = False
        self.release_requested = self.authorization_requested = False
        self.payment_authorized = self.capture_requested = self.payment_captured = False
        self.void_requested = self.refund_requested = False

    # -- recording ---------------------------------------------------------------

    def _send(self, event: ev.DomainEvent) -> None:
        self.events.append(event)

    def _enter(self, status: Status, now: datetime, reason: str = "") -> None:
        self.status, self.reason, self.updated_at = status, reason, now
        self.history.append(HistoryEntry(status, now, reason))

    def _wait(self, step: Step, now: datetime, timeout: timedelta) -> None:
        self.step, self.deadline, self.updated_at = step, now + timeout, now

    def _waiting_in(self, step: Step) -> bool:
        return self.status == Status.PENDING and self.step == step

    # -- the happy path ------------------------------------------------------------

    def place(self, now: datetime, timeout: timedelta) -> None:
        """PENDING: the order exists and asks inventory for its stock."""
        self._enter(Status.PENDING, now)
        self.stock_requested = True
        self._wait(Step.RESERVING, now, timeout)
        self._send(ev.OrderPlaced(self.id))
        lines = tuple((line.sku, line.quantity) for line in self.lines)
        self._send(ev.ReserveStock(self.id, lines))

    def mark_stock_reserved(self, now: datetime, timeout: timedelta) -> None:
        """Stock held: ask payments to authorize the total."""
        if self.status == Status.CANCELLED:
            # A reservation made after we gave up (timeout, cancel): give it back.
            self.release_requested = True
            self._send(ev.ReleaseStock(self.id, self.reason))
            return
        if not self._waiting_in(Step.RESERVING):
            return  # a duplicate answer
        self.stock_reserved = self.authorization_requested = True
        self._wait(Step.AUTHORIZING, now, timeout)
        self._send(
            ev.AuthorizePayment(self.id, self.user_id, self.total, self.currency, self.card_token)
        )

    def mark_payment_authorized(self, now: datetime, timeout: timedelta) -> None:
        """Money held: capture it and sell the reserved stock."""
        if self.status == Status.CANCELLED:
            # Authorized after we gave up: let the hold go (again, if it crossed our void).
            if not self.payment_captured:
                self.void_requested = True
                self._send(ev.VoidPayment(self.id, self.reason))
            return
        if not self._waiting_in(Step.AUTHORIZING):
            return
        self.payment_authorized = self.capture_requested = True
        self._wait(Step.CONFIRMING, now, timeout)
        self._send(ev.CapturePayment(self.id))
        self._send(ev.CommitStock(self.id))

    def mark_payment_captured(self, now: datetime) -> None:
        if self.status == Status.CANCELLED:
            self.payment_captured = True
            # Captured after we gave up: give the money back.
            self.refund_requested = True
            self._send(ev.RefundPayment(self.id, self.reason))
            return
        if self.payment_captured or not self._waiting_in(Step.CONFIRMING):
            return
        self.payment_captured = True
        self.updated_at = now
        self._confirm_when_complete(now)

    def mark_stock_committed(self, now: datetime) -> None:
        # On a cancelled order the ReleaseStock already sent returns the units.
        if self.stock_committed or not self._waiting_in(Step.CONFIRMING):
            return
        self.stock_committed = True
        self.updated_at = now
        self._confirm_when_complete(now)

    def _confirm_when_complete(self, now: datetime) -> None:
        if self.payment_captured and self.stock_committed:
            self.step, self.deadline = Step.DONE, None
            self._enter(Status.CONFIRMED, now)
            self._send(ev.OrderConfirmed(self.id))

    def mark_shipped(self, tracking_number: str, now: datetime) -> bool:
        """CONFIRMED → SHIPPED; anything else is ignored (False)."""
        if self.status != Status.CONFIRMED:
            return False
        self.tracking_number = tracking_number
        self._enter(Status.SHIPPED, now)
        self._send(ev.OrderShipped(self.id, tracking_number))
        return True

    # -- an operator's view and retry -------------------------------------------------

    def awaiting(self) -> tuple[str, ...]:
        """The commands the current step still waits on an answer to; () unless PENDING."""
        if self.status != Status.PENDING or self.step == Step.DONE:
            return ()
        if self.step == Step.RESERVING:
            return ("ReserveStock",)
        if self.step == Step.AUTHORIZING:
            return ("AuthorizePayment",)
        unanswered = (
            ("CapturePayment", self.payment_captured),
            ("CommitStock", self.stock_committed),
        )
        return tuple(command for command, answered in unanswered if not answered)

    def retry_step(self, now: datetime, timeout: timedelta) -> bool:
        """Ask again what the current step waits for; True if it did (PENDING only).

        The command is recorded again (ReserveStock, AuthorizePayment, or what of
        CapturePayment and CommitStock is still unanswered) under a new message
        id; the participants act once per order, so a duplicate has one effect,
        and its compensation stays the step's own. The deadline moves one step
        timeout past the later of itself and ``now``, so a stuck saga gets a
        whole step's time again before the sweeper times it out.
        """
        awaiting = self.awaiting()
        if not awaiting:
            return False
        for command in awaiting:
            self._send(self._command(command))
        base = self.deadline if self.deadline is not None and self.deadline > now else now
        self.deadline, self.updated_at = base + timeout, now
        return True

    def _command(self, name: str) -> ev.DomainEvent:
        match name:
            case "ReserveStock":
                lines = tuple((line.sku, line.quantity) for line in self.lines)
                return ev.ReserveStock(self.id, lines)
            case "AuthorizePayment":
                return ev.AuthorizePayment(
                    self.id, self.user_id, self.total, self.currency, self.card_token
                )
            case "CapturePayment":
                return ev.CapturePayment(self.id)
            case "CommitStock":
                return ev.CommitStock(self.id)
        raise ValueError(f"the saga sends no command {name!r}")

    # -- failures ----------------------------------------------------------------

    def mark_stock_rejected(self, now: datetime) -> None:
        """Nothing was held and nothing charged: cancel, nothing to compensate."""
        if self._waiting_in(Step.RESERVING):
            self._cancel(Reason.OUT_OF_STOCK, now)

    def mark_payment_declined(self, now: datetime) -> None:
        if self._waiting_in(Step.AUTHORIZING):
            self._cancel(Reason.PAYMENT_DECLINED, now)

    def mark_stock_commit_refused(self, now: datetime) -> None:
        """Inventory no longer holds the units (its reservation expired): cancel, refund."""
        if self._waiting_in(Step.CONFIRMING):
            self._cancel(Reason.OUT_OF_STOCK, now)

    def mark_capture_refused(self, now: datetime) -> None:
        """Payments could not capture (nothing taken): cancel, give the stock back."""
        if self._waiting_in(Step.CONFIRMING) and not self.payment_captured:
            self._cancel(Reason.PAYMENT_DECLINED, now)

    def time_out(self, now: datetime) -> bool:
        """Cancel (TIMEOUT) if the current step is past its deadline; True if it did."""
        if self.status != Status.PENDING or self.deadline is None or self.deadline > now:
            return False
        self._cancel(Reason.TIMEOUT, now)
        return True

    def cancel_by_customer(self, now: datetime) -> None:
        """Before shipping only (:class:`CannotCancelError` otherwise)."""
        if self.status in (Status.SHIPPED, Status.CANCELLED):
            raise CannotCancelError(f"order {self.id} is {self.status}")
        self._cancel(Reason.CUSTOMER_CANCELLED, now)

    def _cancel(self, reason: Reason, now: datetime) -> None:
        # Compensate in reverse: the money first, then the stock.
        if self.payment_captured or self.status == Status.CONFIRMED:
            self.refund_requested = True
            self._send(ev.RefundPayment(self.id, reason))
        elif (
            self.authorization_requested
            and not self.void_requested
            and reason != Reason.PAYMENT_DECLINED  # a decline holds nothing
        ):
            self.void_requested = True
            self._send(ev.VoidPayment(self.id, reason))
        if self.stock_requested and not self.release_requested:
            # Also when the answer is not in yet: inventory's release is idempotent,
            # answers for unknown orders and refuses a reservation that comes later.
            rejected = self._waiting_in(Step.RESERVING) and reason == Reason.OUT_OF_STOCK
            if not rejected:
                self.release_requested = True
                self._send(ev.ReleaseStock(self.id, reason))
        self.step, self.deadline = Step.DONE, None
        self._enter(Status.CANCELLED, now, reason)
        self._send(ev.OrderCancelled(self.id, reason))
