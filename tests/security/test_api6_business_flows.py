"""API6:2023 Unrestricted Access to Sensitive Business Flows: checkout, the flow
that holds stock and charges cards, cannot be run without bound by one
customer, nor against another customer's cart."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e._shop import ADDRESS, add_to_cart, card, product_at
from tests.security.conftest import Caller, is_problem

pytestmark = [pytest.mark.e2e, pytest.mark.security]


def order_body() -> dict[str, object]:
    return {"shipping_address": ADDRESS, "payment": card("4242424242424242")}


def test_inventing_idempotency_keys_does_not_buy_unlimited_checkouts(caller: Caller) -> None:
    user = caller.customer()
    add_to_cart(caller.http, user, product_at(caller.http, 6), quantity=1)
    statuses = [
        caller.http.post(
            "/api/orders", json=order_body(), headers={**user, "Idempotency-Key": str(uuid.uuid4())}
        ).status_code
        for _ in range(8)
    ]
    assert 429 in statuses, statuses
    assert statuses.count(202) <= 5


def test_one_idempotency_key_makes_one_order(caller: Caller) -> None:
    user = caller.customer()
    add_to_cart(caller.http, user, product_at(caller.http, 7), quantity=1)
    headers = {**user, "Idempotency-Key": str(uuid.uuid4())}
    first = caller.http.post("/api/orders", json=order_body(), headers=headers)
    again = caller.http.post("/api/orders", json=order_body(), headers=headers)
    assert first.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert caller.http.get("/api/orders", headers=user).json()["total"] == 1


def test_a_customer_cannot_check_out_someone_elses_cart(caller: Caller) -> None:
    owner, thief = caller.customer(), caller.customer()
    product = product_at(caller.http, 8)
    add_to_cart(caller.http, owner, product, quantity=1)
    owner_id = caller.http.get("/api/identity/me", headers=owner).json()["id"]
    body = {**order_body(), "user_id": owner_id, "cart_id": owner_id}
    stolen = caller.http.post(
        "/api/orders", json=body, headers={**thief, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert is_problem(stolen, stolen.status_code)
    assert stolen.status_code in (409, 422)
    assert caller.http.get("/api/orders", headers=thief).json()["total"] == 0
    assert caller.http.get("/api/orders", headers=owner).json()["total"] == 0
    (line,) = caller.http.get("/api/cart", headers=owner).json()["items"]
    assert line["product_id"] == product["id"]
