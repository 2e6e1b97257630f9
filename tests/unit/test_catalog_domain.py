"""Catalog's rule for its events: a price change is news only when the price changes."""

from __future__ import annotations

from emporium.services.catalog.domain import Price, repriced


def test_price_changed_only_on_a_real_change() -> None:
    assert repriced(Price(1000, "USD"), Price(1000, "USD")) is None


def test_a_new_amount_is_a_price_change() -> None:
    assert repriced(Price(1000, "USD"), Price(1200, "USD")) == Price(1200, "USD")


def test_the_same_amount_in_another_currency_is_a_price_change() -> None:
    assert repriced(Price(1000, "USD"), Price(1000, "EUR")) == Price(1000, "EUR")
