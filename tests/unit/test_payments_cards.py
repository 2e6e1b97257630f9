"""Card rules, the simulated processor's chaos knob, and events on the wire."""

from __future__ import annotations

import random
import uuid
from datetime import date

import pytest

from emporium.contracts.payments import PaymentCaptureRefused, PaymentRefunded
from emporium.services.payments.adapters.processor import ProcessorUnavailable, SimulatedProcessor
from emporium.services.payments.domain import (
    CaptureRefused,
    Card,
    CardError,
    Outcome,
    Refunded,
    brand_of,
    luhn_valid,
)
from emporium.services.payments.service_layer import integration_event

TODAY = date(2030, 6, 15)


def _card(
    number: str = "4242424242424242", month: int = 12, year: int = 2031, cvc: str = "123"
) -> Card:
    return Card(number=number, exp_month=month, exp_year=year, cvc=cvc)


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("4242424242424242", Outcome.APPROVE),
        ("4000000000000002", Outcome.CARD_DECLINED),
        ("4000000000009995", Outcome.INSUFFICIENT_FUNDS),
        ("5555 5555 5555 4444", Outcome.APPROVE),  # any other Luhn-valid number
    ],
)
def test_test_cards_decide_the_later_outcome(number: str, outcome: Outcome) -> None:
    card = _card(number)
    card.validate(TODAY)
    assert card.outcome is outcome


def test_luhn_accepts_valid_numbers_and_refuses_a_changed_digit() -> None:
    assert luhn_valid("4242424242424242")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4242424242424241")
    assert not luhn_valid("42424242x2424242")


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4242424242424242", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3056930009020004", "unknown"),
    ],
)
def test_brand_comes_from_the_number_prefix(number: str, brand: str) -> None:
    assert brand_of(number) == brand


@pytest.mark.parametrize(
    ("card", "field"),
    [
        (_card("4242424242424241"), "number"),
        (_card("4242"), "number"),
        (_card(month=5, year=2030), "exp_year"),
        (_card(month=13), "exp_month"),
        (_card(cvc="12"), "cvc"),
        (_card(cvc="12a"), "cvc"),
        (_card("378282246310005", cvc="123"), "cvc"),  # amex has four digits
    ],
)
def test_a_bad_card_is_refused_naming_the_field_but_not_the_number(card: Card, field: str) -> None:
    with pytest.raises(CardError) as refused:
        card.validate(TODAY)
    assert refused.value.field == field
    assert card.digits not in str(refused.value)


def test_a_card_expiring_this_month_is_still_good() -> None:
    _card(month=6, year=2030).validate(TODAY)


def test_card_repr_never_shows_the_number_or_cvc() -> None:
    text = repr(_card(cvc="987"))
    assert "4242424242424242" not in text
    assert "987" not in text


async def test_injected_failure_rate_makes_processor_calls_fail_to_be_retried() -> None:
    failing = SimulatedProcessor(failure_rate=1.0, rng=random.Random(1))
    with pytest.raises(ProcessorUnavailable):
        await failing.settle()
    await SimulatedProcessor(failure_rate=0.0).settle()
    with pytest.raises(ValueError, match="failure_rate"):
        SimulatedProcessor(failure_rate=1.5)


def test_domain_events_become_their_integration_events() -> None:
    order = uuid.uuid4()
    refunded = integration_event(Refunded(order, 500, "USD"))
    assert isinstance(refunded, PaymentRefunded)
    assert (refunded.order_id, refunded.amount.amount) == (order, 500)
    refused = integration_event(CaptureRefused(order, "DECLINED"))
    assert isinstance(refused, PaymentCaptureRefused)
    assert refused.reason == "DECLINED"


def test_a_four_digit_cvc_is_only_for_amex() -> None:
    _card("378282246310005", cvc="1234").validate(TODAY)
    with pytest.raises(CardError) as refused:
        _card(cvc="1234").validate(TODAY)
    assert refused.value.field == "cvc"
