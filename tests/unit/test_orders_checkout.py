"""Checkout's own rules: the Idempotency-Key, and a fingerprint that keeps no CVC."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from emporium.chassis import Database
from emporium.chassis.messaging import Outbox
from emporium.services.orders.adapters.upstreams import PaymentCard, Upstreams
from emporium.services.orders.service_layer import Checkout, CheckoutRefusedError, PlaceOrder

ADDRESS: dict[str, Any] = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}
CARD = PaymentCard("4242424242424242", 12, 2035, "123")


def checkout() -> Checkout:
    # Built, never started: these rules are decided before any store or upstream is used.
    upstreams = Upstreams.at("http://cart", "http://shipping", "http://payments", timeout=1)
    return Checkout(
        Database("sqlite+aiosqlite://"),
        upstreams,
        Outbox(),
        hash_key=b"k" * 32,
        step_timeout=timedelta(seconds=30),
    )


def command(key: str | None = "key-1", card: PaymentCard = CARD) -> PlaceOrder:
    return PlaceOrder(uuid.uuid4(), "Bearer t", key, ADDRESS, card)


@pytest.mark.parametrize("key", [None, "", "   "])
async def test_an_order_without_idempotency_key_is_refused_with_428(key: str | None) -> None:
    with pytest.raises(CheckoutRefusedError) as refused:
        await checkout().place(command(key))
    assert refused.value.status == 428


async def test_an_idempotency_key_over_255_characters_is_refused_with_400() -> None:
    with pytest.raises(CheckoutRefusedError) as refused:
        await checkout().place(command("k" * 256))
    assert refused.value.status == 400


def test_the_cvc_does_not_influence_the_stored_fingerprint() -> None:
    service, placed = checkout(), command()
    other_cvc = replace(placed, card=replace(CARD, cvc="999"))
    assert service.fingerprint(placed) == service.fingerprint(other_cvc)


def test_the_fingerprint_tells_another_expiry_or_address_apart() -> None:
    service, placed = checkout(), command()
    other_expiry = replace(placed, card=replace(CARD, exp_year=2036))
    other_address = replace(placed, shipping_address={**ADDRESS, "city": "Bath"})
    fingerprints = {service.fingerprint(c) for c in (placed, other_expiry, other_address)}
    assert len(fingerprints) == 3


def test_the_fingerprint_keeps_no_full_card_number() -> None:
    # Two numbers with the same last four digits are one card as far as the hash knows.
    service, placed = checkout(), command()
    same_last4 = replace(placed, card=replace(CARD, number="4000056655664242"))
    assert service.fingerprint(placed) == service.fingerprint(same_last4)


def test_the_card_repr_hides_number_and_cvc() -> None:
    text = repr(PaymentCard("4242424242424242", 6, 2030, "987"))
    assert "4242424242424242" not in text
    assert "987" not in text
