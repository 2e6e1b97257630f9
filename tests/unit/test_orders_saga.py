"""The Order aggregate's saga: every transition, compensation and late reply."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from emporium.services.orders.domain import (
    CannotCancelError,
    Order,
    OrderLine,
    Reason,
    Status,
    Step,
)
from emporium.services.orders.domain import events as ev

T0 = datetime(2030, 1, 1, 12, 0, 0)
TIMEOUT = timedelta(seconds=30)


def new_order(now: datetime = T0) -> Order:
    order = Order(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        lines=[
            OrderLine(uuid.uuid4(), "SKU-A", "Teapot", 2, 1999),
            OrderLine(uuid.uuid4(), "SKU-B", "Cups", 1, 450),
        ],
        shipping=500,
        currency="USD",
        shipping_address={"name": "A", "line1": "1 St", "city": "X", "postal_code": "1"},
        card_token="tok_1",
        card_brand="visa",
        card_last4="4242",
        idempotency_key="k",
        request_hash="h",
        now=now,
    )
    order.place(now, TIMEOUT)
    return order


def kinds(order: Order) -> list[str]:
    return [type(message).__name__ for message in order.collect_events()]


def authorized(order: Order | None = None) -> Order:
    order = order or new_order()
    order.mark_stock_reserved(T0, TIMEOUT)
    order.mark_payment_authorized(T0, TIMEOUT)
    order.collect_events()
    return order


def confirmed() -> Order:
    order = authorized()
    order.mark_payment_captured(T0)
    order.mark_stock_committed(T0)
    order.collect_events()
    return order


def test_placing_totals_items_and_shipping_and_asks_for_stock() -> None:
    order = new_order()
    assert (order.items_total, order.shipping, order.total) == (2 * 1999 + 450, 500, 4948)
    assert (order.status, order.step, order.deadline) == (
        Status.PENDING,
        Step.RESERVING,
        T0 + TIMEOUT,
    )
    sent = order.collect_events()
    assert [type(x).__name__ for x in sent] == ["OrderPlaced", "ReserveStock"]
    assert sent[1] == ev.ReserveStock(order.id, (("SKU-A", 2), ("SKU-B", 1)))
    assert [h.status for h in order.history] == ["PENDING"]


def test_reserved_stock_asks_payments_to_authorize_the_total_with_the_token() -> None:
    order = new_order()
    order.collect_events()
    later = T0 + timedelta(seconds=5)
    order.mark_stock_reserved(later, TIMEOUT)
    assert order.collect_events() == [
        ev.AuthorizePayment(order.id, order.user_id, 4948, "USD", "tok_1")
    ]
    assert (order.step, order.deadline) == (Step.AUTHORIZING, later + TIMEOUT)


def test_authorized_payment_is_captured_and_stock_committed() -> None:
    order = new_order()
    order.mark_stock_reserved(T0, TIMEOUT)
    order.collect_events()
    order.mark_payment_authorized(T0, TIMEOUT)
    assert kinds(order) == ["CapturePayment", "CommitStock"]
    assert order.step == Step.CONFIRMING


@pytest.mark.parametrize("captured_first", [True, False])
def test_order_is_confirmed_once_captured_and_committed_in_either_order(
    captured_first: bool,
) -> None:
    order = authorized()
    first, second = (
        (order.mark_payment_captured, order.mark_stock_committed)
        if captured_first
        else (order.mark_stock_committed, order.mark_payment_captured)
    )
    first(T0)
    assert order.status == Status.PENDING
    assert kinds(order) == []
    second(T0)
    assert order.status == Status.CONFIRMED
    assert kinds(order) == ["OrderConfirmed"]
    assert (order.step, order.deadline) == (Step.DONE, None)


def test_dispatched_shipment_ships_a_confirmed_order() -> None:
    order = confirmed()
    assert order.mark_shipped("TRK1", T0)
    assert (order.status, order.tracking_number) == (Status.SHIPPED, "TRK1")
    assert order.collect_events() == [ev.OrderShipped(order.id, "TRK1")]
    assert not order.mark_shipped("TRK1", T0)  # a duplicate changes nothing
    assert kinds(order) == []


def test_rejected_stock_cancels_out_of_stock_with_nothing_to_compensate() -> None:
    order = new_order()
    order.collect_events()
    order.mark_stock_rejected(T0)
    assert (order.status, order.reason) == (Status.CANCELLED, Reason.OUT_OF_STOCK)
    assert kinds(order) == ["OrderCancelled"]


def test_declined_payment_releases_reserved_stock() -> None:
    order = new_order()
    order.mark_stock_reserved(T0, TIMEOUT)
    order.collect_events()
    order.mark_payment_declined(T0)
    assert (order.status, order.reason) == (Status.CANCELLED, Reason.PAYMENT_DECLINED)
    assert kinds(order) == ["ReleaseStock", "OrderCancelled"]


def test_refused_commit_cancels_and_voids_the_uncaptured_payment() -> None:
    order = authorized()
    order.mark_stock_commit_refused(T0)
    assert (order.status, order.reason) == (Status.CANCELLED, Reason.OUT_OF_STOCK)
    assert kinds(order) == ["VoidPayment", "ReleaseStock", "OrderCancelled"]


@pytest.mark.parametrize(
    ("advance", "expected"),
    [
        (0, ["ReleaseStock", "OrderCancelled"]),
        (1, ["VoidPayment", "ReleaseStock", "OrderCancelled"]),
        (2, ["VoidPayment", "ReleaseStock", "OrderCancelled"]),
    ],
)
def test_timeout_compensates_what_was_requested_at_each_step(
    advance: int, expected: list[str]
) -> None:
    order = new_order()
    if advance >= 1:
        order.mark_stock_reserved(T0, TIMEOUT)
    if advance >= 2:
        order.mark_payment_authorized(T0, TIMEOUT)
    order.collect_events()
    assert not order.time_out(T0 + TIMEOUT - timedelta(seconds=1))
    assert order.time_out(T0 + TIMEOUT)
    assert (order.status, order.reason) == (Status.CANCELLED, Reason.TIMEOUT)
    assert kinds(order) == expected
    assert not order.time_out(T0 + 10 * TIMEOUT)


def test_timeout_after_capture_refunds_instead_of_voiding() -> None:
    order = authorized()
    order.mark_payment_captured(T0)
    assert order.time_out(T0 + TIMEOUT)
    assert kinds(order) == ["RefundPayment", "ReleaseStock", "OrderCancelled"]


def test_customer_cancel_of_pending_order_compensates_like_a_timeout() -> None:
    order = new_order()
    order.mark_stock_reserved(T0, TIMEOUT)
    order.collect_events()
    order.cancel_by_customer(T0)
    assert (order.status, order.reason) == (Status.CANCELLED, Reason.CUSTOMER_CANCELLED)
    assert kinds(order) == ["VoidPayment", "ReleaseStock", "OrderCancelled"]


def test_customer_cancel_of_confirmed_order_refunds_and_returns_stock() -> None:
    order = confirmed()
    order.cancel_by_customer(T0)
    assert kinds(order) == ["RefundPayment", "ReleaseStock", "OrderCancelled"]
    assert [h.status for h in order.history] == ["PENDING", "CONFIRMED", "CANCELLED"]


def test_shipped_or_cancelled_orders_cannot_be_cancelled() -> None:
    shipped = confirmed()
    shipped.mark_shipped("T", T0)
    cancelled = new_order()
    cancelled.mark_stock_rejected(T0)
    for order in (shipped, cancelled):
        order.collect_events()
        with pytest.raises(CannotCancelError):
            order.cancel_by_customer(T0)
        assert kinds(order) == []


def test_late_reservation_after_a_cancel_is_released() -> None:
    order = new_order()
    order.mark_stock_rejected(T0)  # nothing was reserved, nothing released
    order.collect_events()
    order.mark_stock_reserved(T0, TIMEOUT)
    assert kinds(order) == ["ReleaseStock"]
    assert order.status == Status.CANCELLED


def test_late_authorization_after_a_timeout_is_voided() -> None:
    order = new_order()
    order.mark_stock_reserved(T0, TIMEOUT)
    order.time_out(T0 + TIMEOUT)
    order.collect_events()
    order.mark_payment_authorized(T0 + TIMEOUT, TIMEOUT)
    assert kinds(order) == ["VoidPayment"]
    assert (order.status, order.reason) == (Status.CANCELLED, Reason.TIMEOUT)


def test_late_capture_after_a_cancel_is_refunded() -> None:
    order = authorized()
    order.cancel_by_customer(T0)
    order.collect_events()
    order.mark_payment_captured(T0)
    assert kinds(order) == ["RefundPayment"]
    assert order.status == Status.CANCELLED


def test_replies_in_the_wrong_state_are_no_ops() -> None:
    order = confirmed()
    before = [h.status for h in order.history]
    order.mark_stock_reserved(T0, TIMEOUT)
    order.mark_stock_rejected(T0)
    order.mark_payment_authorized(T0, TIMEOUT)
    order.mark_payment_declined(T0)
    order.mark_payment_captured(T0)
    order.mark_stock_committed(T0)
    order.mark_stock_commit_refused(T0)
    assert kinds(order) == []
    assert [h.status for h in order.history] == before
    assert order.status == Status.CONFIRMED


def test_duplicate_replies_send_nothing_twice() -> None:
    order = new_order()
    order.collect_events()
    order.mark_stock_reserved(T0, TIMEOUT)
    order.mark_stock_reserved(T0, TIMEOUT)
    assert kinds(order) == ["AuthorizePayment"]
    order.mark_payment_authorized(T0, TIMEOUT)
    order.mark_payment_authorized(T0, TIMEOUT)
    assert kinds(order) == ["CapturePayment", "CommitStock"]


def test_refused_capture_cancels_and_releases_the_stock() -> None:
    order = authorized()
    order.mark_capture_refused(T0)
    assert (order.status, order.reason) == (Status.CANCELLED, Reason.PAYMENT_DECLINED)
    assert kinds(order) == ["ReleaseStock", "OrderCancelled"]


# -- an operator's retry -------------------------------------------------------------


@pytest.mark.parametrize(
    ("reach", "expected"),
    [
        (lambda o: None, ["ReserveStock"]),
        (lambda o: o.mark_stock_reserved(T0, TIMEOUT), ["AuthorizePayment"]),
        (lambda o: authorized(o), ["CapturePayment", "CommitStock"]),
    ],
    ids=["reserving", "authorizing", "confirming"],
)
def test_retry_records_the_current_steps_command_again_and_extends_the_deadline(
    reach: Callable[[Order], object], expected: list[str]
) -> None:
    order = new_order()
    reach(order)
    order.collect_events()
    step, late = order.step, T0 + 5 * TIMEOUT  # stuck: long past its deadline
    assert list(order.awaiting()) == expected
    assert order.retry_step(late, TIMEOUT)
    assert kinds(order) == expected
    assert (order.status, order.step) == (Status.PENDING, step)
    assert order.deadline == late + TIMEOUT
    assert not order.time_out(late + TIMEOUT - timedelta(seconds=1))


def test_retry_before_the_deadline_adds_one_step_timeout_to_it() -> None:
    order = new_order()
    order.collect_events()
    assert order.deadline == T0 + TIMEOUT
    assert order.retry_step(T0, TIMEOUT)
    assert order.deadline == T0 + 2 * TIMEOUT


def test_retry_while_confirming_resends_only_what_is_unanswered() -> None:
    order = authorized()
    order.mark_payment_captured(T0)
    order.collect_events()
    assert order.awaiting() == ("CommitStock",)
    assert order.retry_step(T0, TIMEOUT)
    assert kinds(order) == ["CommitStock"]


@pytest.mark.parametrize("end", ["confirmed", "cancelled"])
def test_retry_is_refused_once_the_saga_left_pending(end: str) -> None:
    order = confirmed() if end == "confirmed" else new_order()
    if end == "cancelled":
        order.cancel_by_customer(T0)
    order.collect_events()
    deadline = order.deadline
    assert order.awaiting() == ()
    assert not order.retry_step(T0, TIMEOUT)
    assert kinds(order) == []
    assert order.deadline == deadline
