"""Checkout through the gateway, in the whole system started by the launcher: identity,
catalog, cart, inventory, payments, shipping and the orders saga for real."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e._system import System, running_system

pytestmark = pytest.mark.e2e

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


def card(number: str) -> dict[str, Any]:
    return {"number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"}


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with running_system(extra_env={"EMPORIUM_SHIPPING_DISPATCH_DELAY_SECONDS": "1"}) as system:
        yield system


@pytest.fixture
def client(system: System) -> Iterator[httpx.Client]:
    with system.client() as client:
        yield client


def signed_in(client: httpx.Client) -> dict[str, str]:
    email, password = f"buyer-{uuid.uuid4().hex[:10]}@example.test", "a long passphrase 42"
    created = client.post(
        "/api/identity/users", json={"email": email, "password": password, "name": "Buyer"}
    )
    assert created.status_code == 201, created.text
    token = client.post("/api/identity/token", json={"email": email, "password": password})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def fill_cart(client: httpx.Client, user: dict[str, str], offset: int) -> dict[str, Any]:
    (product,) = client.get(f"/api/catalog/products?limit=1&offset={offset}").json()["items"]
    added = client.put(f"/api/cart/items/{product['id']}", json={"quantity": 2}, headers=user)
    assert added.status_code == 200, added.text
    return dict(product)


def checkout(client: httpx.Client, user: dict[str, str], number: str) -> dict[str, Any]:
    body = {"shipping_address": ADDRESS, "payment": card(number)}
    headers = {**user, "Idempotency-Key": str(uuid.uuid4())}
    placed = client.post("/api/orders", json=body, headers=headers)
    assert placed.status_code == 202, placed.text
    return dict(placed.json())


def wait_for(
    client: httpx.Client, user: dict[str, str], order_id: str, status: str, within: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        order: dict[str, Any] = client.get(f"/api/orders/{order_id}", headers=user).json()
        if order.get("status") == status:
            return order
        assert time.monotonic() < deadline, f"order is {order.get('status')}, not {status}"
        time.sleep(0.2)


def available(client: httpx.Client, sku: str) -> int:
    return int(client.get(f"/api/inventory/items/{sku}").json()["available"])


def test_a_paid_order_is_confirmed_then_shipped_and_the_cart_empties(
    client: httpx.Client,
) -> None:
    user = signed_in(client)
    product = fill_cart(client, user, offset=0)
    stock_before = available(client, product["sku"])
    order = checkout(client, user, "4242424242424242")
    assert order["total"]["amount"] == 2 * product["price"]["amount"] + order["shipping"]["amount"]

    confirmed = wait_for(client, user, order["id"], "CONFIRMED")
    assert confirmed["payment"]["last4"] == "4242"
    shipped = wait_for(client, user, order["id"], "SHIPPED")
    assert [h["status"] for h in shipped["history"]] == ["PENDING", "CONFIRMED", "SHIPPED"]
    assert available(client, product["sku"]) == stock_before - 2
    assert client.get("/api/cart", headers=user).json()["items"] == []


def test_a_declined_card_cancels_the_order_and_restores_the_stock(
    client: httpx.Client,
) -> None:
    user = signed_in(client)
    product = fill_cart(client, user, offset=1)
    stock_before = available(client, product["sku"])
    order = checkout(client, user, "4000000000000002")

    cancelled = wait_for(client, user, order["id"], "CANCELLED")
    assert cancelled["reason"] == "PAYMENT_DECLINED"
    deadline = time.monotonic() + 10
    while available(client, product["sku"]) != stock_before:
        assert time.monotonic() < deadline, "the reserved stock was not released"
        time.sleep(0.2)
    assert client.get("/api/cart", headers=user).json()["items"] != []
