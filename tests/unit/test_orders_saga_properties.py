"""Any interleaving of the participants' work and replies ends in one consistent state.

Simulated inventory and payments behave as the real ones promise (idempotent,
all-or-nothing reserve, release of unknown orders answered), but with no
tombstones in payments, so a void that overtakes its authorization is the
saga's problem. Hypothesis picks which queued command or reply is delivered
next, which replies are delivered twice, and when a timeout or customer cancel
strikes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from emporium.services.orders.domain import CannotCancelError, Order, Status
from emporium.services.orders.domain import events as ev
from tests.unit.test_orders_saga import T0, TIMEOUT, new_order

Reply = str  # "StockReserved", "PaymentCaptured", ...


@dataclass
class World:
    order: Order
    stock_ok: bool
    card_ok: bool
    stock: str = "NONE"  # NONE RESERVED REJECTED COMMITTED RELEASED
    payment: str = "NONE"  # NONE AUTHORIZED DECLINED CAPTURED VOIDED REFUNDED
    commands: list[ev.DomainEvent] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)

    def collect(self) -> None:
        for message in self.order.collect_events():
            if not isinstance(
                message, ev.OrderPlaced | ev.OrderConfirmed | ev.OrderCancelled | ev.OrderShipped
            ):
                self.commands.append(message)

    def run_command(self, command: ev.DomainEvent) -> None:
        """What inventory or payments does with one command, and what it answers."""
        match command:
            case ev.ReserveStock():
                if self.stock == "NONE":
                    self.stock = "RESERVED" if self.stock_ok else "REJECTED"
                reserved = self.stock in ("RESERVED", "COMMITTED")
                self.replies.append("StockReserved" if reserved else "StockRejected")
            case ev.CommitStock():
                if self.stock == "RESERVED":
                    self.stock = "COMMITTED"
                committed = self.stock == "COMMITTED"
                self.replies.append("StockCommitted" if committed else "StockCommitRefused")
            case ev.ReleaseStock():
                self.stock = "RELEASED" if self.stock != "REJECTED" else "REJECTED"
            case ev.AuthorizePayment():
                if self.payment == "NONE":
                    self.payment = "AUTHORIZED" if self.card_ok else "DECLINED"
                    ok = self.card_ok
                    self.replies.append("PaymentAuthorized" if ok else "PaymentDeclined")
            case ev.CapturePayment():
                if self.payment in ("AUTHORIZED", "CAPTURED"):
                    self.payment = "CAPTURED"
                    self.replies.append("PaymentCaptured")
                else:
                    self.replies.append("PaymentCaptureRefused")
            case ev.VoidPayment():
                if self.payment == "AUTHORIZED":
                    self.payment = "VOIDED"
            case ev.RefundPayment():
                if self.payment == "CAPTURED":
                    self.payment = "REFUNDED"

    def deliver(self, reply: Reply) -> None:
        order = self.order
        match reply:
            case "StockReserved":
                order.mark_stock_reserved(T0, TIMEOUT)
            case "StockRejected":
                order.mark_stock_rejected(T0)
            case "StockCommitted":
                order.mark_stock_committed(T0)
            case "StockCommitRefused":
                order.mark_stock_commit_refused(T0)
            case "PaymentAuthorized":
                order.mark_payment_authorized(T0, TIMEOUT)
            case "PaymentDeclined":
                order.mark_payment_declined(T0)
            case "PaymentCaptured":
                order.mark_payment_captured(T0)
            case "PaymentCaptureRefused":
                order.mark_capture_refused(T0)
        self.collect()

    def step(self, choice: int, duplicate: bool) -> bool:
        queue = [*((0, c) for c in self.commands), *((1, r) for r in self.replies)]
        if not queue:
            return False
        kind, item = queue[choice % len(queue)]
        if kind == 0:
            assert not isinstance(item, str)
            self.commands.remove(item)
            self.run_command(item)
        else:
            assert isinstance(item, str)
            if not duplicate:
                self.replies.remove(item)
            self.deliver(item)
        return True


@settings(max_examples=300, deadline=None)
@given(
    stock_ok=st.booleans(),
    card_ok=st.booleans(),
    schedule=st.lists(st.tuples(st.integers(0, 50), st.booleans()), max_size=40),
    interrupt_at=st.one_of(st.none(), st.integers(0, 40)),
    interrupt=st.sampled_from(["timeout", "customer"]),
)
def test_any_interleaving_ends_in_one_terminal_state_with_consistent_compensation(
    stock_ok: bool,
    card_ok: bool,
    schedule: list[tuple[int, bool]],
    interrupt_at: int | None,
    interrupt: str,
) -> None:
    world = World(new_order(), stock_ok, card_ok)
    world.collect()
    for index, (choice, duplicate) in enumerate(schedule):
        if index == interrupt_at:
            if interrupt == "timeout":
                world.order.time_out(T0 + timedelta(days=1))
            else:
                with contextlib.suppress(CannotCancelError):
                    world.order.cancel_by_customer(T0)
            world.collect()
        world.step(choice, duplicate)
    # Then everything in flight is delivered, once; a saga still waiting times out.
    while world.step(0, False):
        pass
    if world.order.time_out(T0 + timedelta(days=2)):
        world.collect()
        while world.step(0, False):
            pass

    order = world.order
    assert order.status in (Status.CONFIRMED, Status.CANCELLED)
    terminal = [h.status for h in order.history if h.status != Status.PENDING]
    assert terminal in (["CONFIRMED"], ["CANCELLED"], ["CONFIRMED", "CANCELLED"])
    if order.status == Status.CONFIRMED:
        assert (world.payment, world.stock) == ("CAPTURED", "COMMITTED")
    else:
        # Nothing captured net of refunds, no money held, no stock held or sold.
        assert world.payment in ("NONE", "DECLINED", "VOIDED", "REFUNDED")
        assert world.stock in ("NONE", "REJECTED", "RELEASED")
    if not (stock_ok and card_ok):
        assert order.status == Status.CANCELLED
