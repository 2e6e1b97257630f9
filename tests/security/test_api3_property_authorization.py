"""API3:2023 Broken Object Property Level Authorization: a client cannot set
properties it does not own (role, id, user_id, status, prices, totals), and
responses carry no property a caller should not see (hashes, card numbers)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e._shop import ADDRESS, add_to_cart, card, product_at
from tests.security.conftest import PASSWORD, Caller, is_problem

pytestmark = [pytest.mark.e2e, pytest.mark.security]

SECRETS = ("password", "hash", "4242424242424242", "cvc", "private", "card_token")


def test_sign_up_cannot_choose_its_role_or_id(caller: Caller) -> None:
    email = f"sec-{uuid.uuid4().hex[:12]}@example.com"
    forced = str(uuid.uuid4())
    body = {"email": email, "password": PASSWORD, "name": "M", "role": "admin", "id": forced}
    created = caller.http.post("/api/identity/users", json=body)
    assert created.status_code == 201
    assert created.json()["role"] == "customer"
    assert created.json()["id"] != forced
    headers = caller.login(email)
    assert is_problem(caller.http.get("/api/identity/users", headers=headers), 403)


def test_checkout_ignores_owner_status_and_money_named_in_the_body(caller: Caller) -> None:
    user = caller.customer()
    me = caller.http.get("/api/identity/me", headers=user).json()
    product = product_at(caller.http, 2)
    add_to_cart(caller.http, user, product, quantity=1)
    body: dict[str, Any] = {
        "shipping_address": ADDRESS,
        "payment": card("4242424242424242"),
        "user_id": str(uuid.uuid4()),
        "status": "SHIPPED",
        "total": {"amount": 1, "currency": "USD"},
        "items": [{"product_id": product["id"], "quantity": 1, "unit_price": {"amount": 1}}],
    }
    placed = caller.http.post(
        "/api/orders", json=body, headers={**user, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert placed.status_code in (202, 422), placed.text
    if placed.status_code == 422:
        return  # refusing unknown properties outright is as good as ignoring them
    order = placed.json()
    assert order["user_id"] == me["id"]
    assert order["status"] == "PENDING"
    assert order["items_total"]["amount"] == product["price"]["amount"]
    assert order["total"]["amount"] >= product["price"]["amount"]


def test_the_cart_takes_prices_from_the_catalog_not_the_client(caller: Caller) -> None:
    user = caller.customer()
    product = product_at(caller.http, 3)
    body = {"quantity": 1, "unit_price": {"amount": 1, "currency": "USD"}, "sku": "FREE"}
    response = caller.http.put(f"/api/cart/items/{product['id']}", json=body, headers=user)
    if response.status_code == 422:
        return
    assert response.status_code == 200
    (line,) = response.json()["items"]
    assert line["unit_price"] == product["price"]
    assert line["sku"] == product["sku"]


def test_admin_product_bodies_are_closed_to_unknown_properties(caller: Caller) -> None:
    admin = caller.admin()
    body = {
        "sku": f"SEC-{uuid.uuid4().hex[:8]}",
        "name": "Closed",
        "price": {"amount": 100, "currency": "USD"},
        "id": str(uuid.uuid4()),
        "stock": 1_000_000,
    }
    assert is_problem(caller.http.post("/api/catalog/products", json=body, headers=admin), 422)


def test_responses_carry_no_secrets_of_their_owner(caller: Caller) -> None:
    user = caller.customer()
    me = caller.http.get("/api/identity/me", headers=user)
    assert set(me.json()) == {"id", "email", "name", "role"}
    product = product_at(caller.http, 4)
    add_to_cart(caller.http, user, product, quantity=1)
    placed = caller.http.post(
        "/api/orders",
        json={"shipping_address": ADDRESS, "payment": card("4242424242424242")},
        headers={**user, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert placed.status_code == 202
    order_id = placed.json()["id"]
    for response in (
        me,
        placed,
        caller.http.get(f"/api/orders/{order_id}", headers=user),
        caller.http.get("/api/orders", headers=user),
    ):
        text = response.text.lower()
        for secret in SECRETS:
            assert secret not in text, (response.url, secret)
    assert placed.json()["payment"] == {"brand": "visa", "last4": "4242"}
