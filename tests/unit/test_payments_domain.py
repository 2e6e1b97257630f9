"""The payment intent: guarded transitions, idempotent commands, money never overdrawn."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emporium.services.payments.domain import (
    CANCELLED_BEFORE_AUTHORIZATION,
    Authorized,
    Captured,
    CaptureRefused,
    Declined,
    IllegalTransition,
    PaymentError,
    PaymentIntent,
    PaymentStatus,
    Refunded,
    Voided,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC).replace(tzinfo=None)
S = PaymentStatus


def _intent(amount: int = 1999) -> PaymentIntent:
    return PaymentIntent(uuid.uuid4(), uuid.uuid4(), amount, "USD", NOW)


def _in(status: PaymentStatus) -> PaymentIntent:
    """An intent brought to ``status`` through legal transitions only."""
    intent = _intent()
    if status == S.DECLINED:
        intent.decline("card_declined", "visa", "0002", NOW)
    elif status != S.REQUIRES_AUTHORIZATION:
        intent.authorize("visa", "4242", NOW)
        if status in (S.CAPTURED, S.REFUNDED):
            intent.capture(NOW)
        if status == S.REFUNDED:
            intent.refund(NOW)
        if status == S.VOIDED:
            intent.void(NOW)
    intent.collect_events()
    return intent


Transition = Callable[[PaymentIntent], None]
TRANSITIONS: dict[str, Transition] = {
    "authorize": lambda i: i.authorize("visa", "4242", NOW),
    "decline": lambda i: i.decline("card_declined", "visa", "0002", NOW),
    "capture": lambda i: i.capture(NOW),
    "void": lambda i: i.void(NOW),
    "refund": lambda i: i.refund(NOW),
}
LEGAL = {
    ("authorize", S.REQUIRES_AUTHORIZATION): S.AUTHORIZED,
    ("decline", S.REQUIRES_AUTHORIZATION): S.DECLINED,
    ("capture", S.AUTHORIZED): S.CAPTURED,
    ("void", S.AUTHORIZED): S.VOIDED,
    ("refund", S.CAPTURED): S.REFUNDED,
}
ALL = [(name, status) for name in TRANSITIONS for status in S]


@pytest.mark.parametrize(("name", "start"), [k for k in ALL if k in LEGAL])
def test_legal_transition_moves_to_its_state_and_records_one_event(
    name: str, start: PaymentStatus
) -> None:
    intent = _in(start)
    TRANSITIONS[name](intent)
    assert intent.status == LEGAL[(name, start)]
    assert len(intent.collect_events()) == 1


@pytest.mark.parametrize(("name", "start"), [k for k in ALL if k not in LEGAL])
def test_illegal_transition_is_refused_and_changes_nothing(name: str, start: PaymentStatus) -> None:
    intent = _in(start)
    before = (intent.status, intent.captured_amount, intent.refunded_amount)
    with pytest.raises(IllegalTransition):
        TRANSITIONS[name](intent)
    assert (intent.status, intent.captured_amount, intent.refunded_amount) == before
    assert intent.events == []


def test_a_negative_amount_is_refused() -> None:
    with pytest.raises(PaymentError):
        _intent(-1)


def test_capture_takes_the_authorized_amount_and_refund_returns_it() -> None:
    intent = _in(S.AUTHORIZED)
    intent.capture_requested(NOW)
    assert intent.captured_amount == 1999
    intent.refund_requested(NOW)
    assert (intent.captured_amount, intent.refunded_amount) == (1999, 1999)
    assert intent.collect_events() == [
        Captured(intent.order_id, 1999, "USD"),
        Refunded(intent.order_id, 1999, "USD"),
    ]


def test_repeated_authorize_answers_the_first_outcome_again() -> None:
    approved, declined = _in(S.CAPTURED), _in(S.DECLINED)
    approved.authorize_requested_again()
    declined.authorize_requested_again()
    assert approved.collect_events() == [Authorized(approved.order_id, approved.id, 1999, "USD")]
    assert declined.collect_events() == [Declined(declined.order_id, "card_declined")]
    assert (approved.status, declined.status) == (S.CAPTURED, S.DECLINED)


def test_repeated_capture_captures_once_and_answers_captured_again() -> None:
    intent = _in(S.AUTHORIZED)
    for _ in range(3):
        intent.capture_requested(NOW)
    assert intent.captured_amount == 1999
    assert intent.collect_events() == [Captured(intent.order_id, 1999, "USD")] * 3


@pytest.mark.parametrize("start", [S.DECLINED, S.VOIDED])
def test_capture_of_a_payment_not_authorized_is_refused_with_an_answer(
    start: PaymentStatus,
) -> None:
    intent = _in(start)
    intent.capture_requested(NOW)
    assert intent.captured_amount == 0
    assert intent.collect_events() == [CaptureRefused(intent.order_id, start)]


@pytest.mark.parametrize("start", [S.DECLINED, S.VOIDED, S.REFUNDED])
def test_void_with_nothing_to_void_answers_voided_and_changes_nothing(
    start: PaymentStatus,
) -> None:
    intent = _in(start)
    intent.void_requested(NOW)
    assert intent.status == start
    assert intent.collect_events() == [Voided(intent.order_id)]


def test_void_of_a_captured_payment_refunds_it_so_nothing_stays_taken() -> None:
    intent = _in(S.CAPTURED)
    intent.void_requested(NOW)
    assert (intent.status, intent.refunded_amount) == (S.REFUNDED, 1999)
    assert intent.collect_events() == [
        Refunded(intent.order_id, 1999, "USD"),
        Voided(intent.order_id),
    ]


def test_refund_of_an_authorized_payment_releases_the_hold_and_returns_nothing() -> None:
    intent = _in(S.AUTHORIZED)
    intent.refund_requested(NOW)
    assert (intent.status, intent.captured_amount, intent.refunded_amount) == (S.VOIDED, 0, 0)
    assert intent.collect_events() == [Voided(intent.order_id), Refunded(intent.order_id, 0, "USD")]


def test_repeated_refund_refunds_once_and_answers_the_same_amount() -> None:
    intent = _in(S.CAPTURED)
    intent.refund_requested(NOW)
    intent.refund_requested(NOW)
    assert intent.refunded_amount == 1999
    assert intent.collect_events() == [Refunded(intent.order_id, 1999, "USD")] * 2


def test_compensation_for_an_unknown_order_declines_a_late_authorization() -> None:
    tombstone = PaymentIntent.cancelled_unknown(uuid.uuid4(), "USD", NOW)
    assert (tombstone.status, tombstone.reason) == (S.VOIDED, CANCELLED_BEFORE_AUTHORIZATION)
    tombstone.authorize_requested_again()
    tombstone.capture_requested(NOW)
    assert tombstone.collect_events() == [
        Declined(tombstone.order_id, CANCELLED_BEFORE_AUTHORIZATION),
        CaptureRefused(tombstone.order_id, S.VOIDED),
    ]
    assert tombstone.captured_amount == 0


COMMANDS: dict[str, Transition] = {
    "authorize_again": lambda i: i.authorize_requested_again(),
    "capture": lambda i: i.capture_requested(NOW),
    "void": lambda i: i.void_requested(NOW),
    "refund": lambda i: i.refund_requested(NOW),
}


@given(
    amount=st.integers(min_value=0, max_value=10**9),
    approved=st.booleans(),
    commands=st.lists(st.sampled_from(sorted(COMMANDS)), max_size=12),
)
def test_no_command_sequence_captures_more_than_authorized_or_refunds_more_than_captured(
    amount: int, approved: bool, commands: list[str]
) -> None:
    intent = _intent(amount)
    if approved:
        intent.authorize("visa", "4242", NOW)
    else:
        intent.decline("card_declined", "visa", "0002", NOW)
    for command in commands:
        COMMANDS[command](intent)
        events = intent.collect_events()
        assert events, f"{command} was not answered"
        assert 0 <= intent.captured_amount <= (amount if approved else 0)
        assert 0 <= intent.refunded_amount <= intent.captured_amount
        assert all(e.amount == intent.captured_amount for e in events if isinstance(e, Captured))
    assert intent.captured_amount in (0, amount)
    if intent.status == S.REFUNDED:
        assert intent.refunded_amount == intent.captured_amount
    if intent.status in (S.VOIDED, S.DECLINED):
        assert intent.captured_amount == 0
