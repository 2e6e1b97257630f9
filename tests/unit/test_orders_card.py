"""The card's shape is checked before checkout calls anyone; errors never echo the number."""

from __future__ import annotations

from datetime import date

import pytest

from emporium.services.orders.domain import Card, InvalidCardError, luhn_valid

TODAY = date(2030, 6, 15)


@pytest.mark.parametrize("number", ["4242424242424242", "4000000000000002", "4000000000009995"])
def test_test_cards_pass_luhn(number: str) -> None:
    assert luhn_valid(number)
    Card(number, 12, 2031, "123").validate(TODAY)


@pytest.mark.parametrize(
    ("card", "field"),
    [
        (Card("4242424242424241", 12, 2031, "123"), "number"),
        (Card("4242-4242", 12, 2031, "123"), "number"),
        (Card("4242424242424242", 13, 2031, "123"), "exp_month"),
        (Card("4242424242424242", 5, 2030, "123"), "exp_year"),
        (Card("4242424242424242", 12, 2029, "123"), "exp_year"),
        (Card("4242424242424242", 12, 2031, "12"), "cvc"),
        (Card("4242424242424242", 12, 2031, "12345"), "cvc"),
        (Card("4242424242424242", 12, 2031, "12a"), "cvc"),
    ],
)
def test_bad_card_shapes_name_the_field_without_the_number(card: Card, field: str) -> None:
    with pytest.raises(InvalidCardError) as caught:
        card.validate(TODAY)
    assert caught.value.field == field
    assert card.number not in str(caught.value)


def test_a_card_expiring_this_month_is_still_valid() -> None:
    Card("4242424242424242", 6, 2030, "1234").validate(TODAY)


def test_repr_hides_number_and_cvc() -> None:
    text = repr(Card("4242424242424242", 6, 2030, "987"))
    assert "4242424242424242" not in text
    assert "987" not in text
    assert "4242" in text
