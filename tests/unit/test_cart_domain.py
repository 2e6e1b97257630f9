"""The cart aggregate: quantities, totals in minor units, and what blocks checkout."""

from __future__ import annotations

import uuid

import pytest

from emporium.services.cart.domain import (
    MAX_QUANTITY,
    Cart,
    CartLine,
    InvalidQuantityError,
    WrongCurrencyError,
    check_currency,
    check_quantity,
)
from emporium.services.cart.schemas import CartOut


def line(quantity: int = 1, unit_price: int = 1999, **changes: object) -> CartLine:
    fields: dict[str, object] = {
        "product_id": uuid.uuid4(),
        "sku": f"SKU-{uuid.uuid4().hex[:6]}",
        "name": "Mug",
        "quantity": quantity,
        "unit_price": unit_price,
        **changes,
    }
    return CartLine(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("quantity", [0, 1, 50, MAX_QUANTITY])
def test_quantities_from_zero_to_99_are_accepted(quantity: int) -> None:
    assert check_quantity(quantity) == quantity


@pytest.mark.parametrize("quantity", [-1, MAX_QUANTITY + 1, 10_000])
def test_quantities_outside_zero_to_99_are_refused(quantity: int) -> None:
    with pytest.raises(InvalidQuantityError):
        check_quantity(quantity)


@pytest.mark.parametrize("quantity", [0, -3, 100])
def test_a_line_holds_one_to_99_units(quantity: int) -> None:
    with pytest.raises(InvalidQuantityError):
        line(quantity)


def test_line_total_is_unit_price_times_quantity_in_minor_units() -> None:
    assert line(3, 1999).line_total == 5997


def test_cart_total_is_the_sum_of_line_totals() -> None:
    cart = Cart.of(uuid.uuid4(), [line(2, 250), line(1, 1999), line(99, 1)])
    assert cart.total == 500 + 1999 + 99


def test_an_empty_cart_totals_zero_and_cannot_be_checked_out() -> None:
    cart = Cart(uuid.uuid4())
    assert cart.total == 0
    assert not cart.checkout_ready


def test_a_cart_of_available_lines_can_be_checked_out() -> None:
    assert Cart.of(uuid.uuid4(), [line(), line()]).checkout_ready


def test_a_withdrawn_line_stays_in_the_total_but_blocks_checkout() -> None:
    withdrawn = line(2, 100).withdrawn()
    cart = Cart.of(uuid.uuid4(), [line(1, 50), withdrawn])
    assert not withdrawn.available
    assert cart.total == 250
    assert not cart.checkout_ready


def test_a_line_in_another_currency_blocks_checkout() -> None:
    assert not Cart.of(uuid.uuid4(), [line(currency="EUR")]).checkout_ready


def test_a_product_enters_the_cart_only_in_the_carts_currency() -> None:
    assert check_currency("USD") == "USD"
    with pytest.raises(WrongCurrencyError, match="EUR"):
        check_currency("EUR")


def test_lines_are_ordered_oldest_first() -> None:
    first, second = line(added_at=1), line(added_at=2)
    assert Cart.of(uuid.uuid4(), [second, first]).lines == (first, second)


def test_a_newer_price_replaces_the_snapshot() -> None:
    repriced = line(unit_price=1000).repriced(900, "USD", as_of=10)
    assert (repriced.unit_price, repriced.price_as_of) == (900, 10)


def test_an_older_price_event_does_not_roll_the_price_back() -> None:
    current = line(unit_price=1000).repriced(900, "USD", as_of=10)
    assert current.repriced(1200, "USD", as_of=5) == current


def test_the_same_price_event_twice_changes_nothing_more() -> None:
    once = line(unit_price=1000).repriced(900, "USD", as_of=10)
    assert once.repriced(900, "USD", as_of=10) == once


def test_the_representation_carries_money_objects_and_flags() -> None:
    product = uuid.uuid4()
    cart = Cart.of(uuid.uuid4(), [line(2, 150, product_id=product).withdrawn()])
    body = CartOut.of(cart).model_dump(mode="json")
    assert body == {
        "items": [
            {
                "product_id": str(product),
                "sku": cart.lines[0].sku,
                "name": "Mug",
                "quantity": 2,
                "unit_price": {"amount": 150, "currency": "USD"},
                "line_total": {"amount": 300, "currency": "USD"},
                "available": False,
            }
        ],
        "total": {"amount": 300, "currency": "USD"},
        "checkout_ready": False,
    }
