"""Checkout through the gateway, in the whole system started by the launcher: identity,
catalog, cart, inventory, payments, shipping, notifications and the orders saga for real,
on the embedded NATS and on RabbitMQ."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests._poll import eventually
from tests.e2e._shop import (
    APPROVED,
    DECLINED,
    add_to_cart,
    admin,
    available,
    checkout,
    place_order,
    product_at,
    signed_in,
    wait_for_available,
    wait_for_status,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("system", ["nats", "rabbitmq"], indirect=True, scope="module"),
]

SYSTEM_ENV = {"EMPORIUM_SHIPPING_DISPATCH_DELAY_SECONDS": "1"}


def _notifications(client: httpx.Client, user: dict[str, str], order_id: str) -> list[Any]:
    items = client.get("/api/notifications", headers=user).json()["items"]
    return [n for n in items if n.get("order_id") == order_id]


def test_a_paid_order_is_confirmed_then_shipped_captured_and_notified(
    client: httpx.Client,
) -> None:
    user = signed_in(client)
    product = product_at(client, offset=0)
    add_to_cart(client, user, product, quantity=2)
    stock_before = available(client, product["sku"])
    order = checkout(client, user, APPROVED)
    assert order["status"] == "PENDING"
    assert order["total"]["amount"] == 2 * product["price"]["amount"] + order["shipping"]["amount"]

    confirmed = wait_for_status(client, user, order["id"], "CONFIRMED", within=10)
    assert confirmed["payment"]["last4"] == "4242"
    payment = client.get(f"/api/payments/{order['id']}", headers=user).json()
    assert payment["status"] == "CAPTURED"
    assert payment["amount"] == order["total"]
    # The cart empties when its consumer hears of the order: eventually, not with the reply.
    eventually(
        lambda: client.get("/api/cart", headers=user).json()["items"],
        lambda items: items == [],
        timeout=10,
        interval=0.1,
        message="the cart was not emptied after the order",
    )

    shipped = wait_for_status(client, user, order["id"], "SHIPPED")
    assert [h["status"] for h in shipped["history"]] == ["PENDING", "CONFIRMED", "SHIPPED"]
    shipment = client.get("/api/shipping/shipments", params={"order_id": order["id"]}, headers=user)
    assert shipment.json()["status"] == "DISPATCHED"
    assert available(client, product["sku"]) == stock_before - 2

    eventually(
        lambda: _notifications(client, user, order["id"]),
        lambda notifications: len(notifications) >= 2,
        timeout=10,
        interval=0.2,
        message="expected a confirmed and a shipped notification",
    )


def test_one_long_poll_through_the_gateway_hears_the_saga_settle_the_order(
    client: httpx.Client,
) -> None:
    user = signed_in(client)
    add_to_cart(client, user, product_at(client, offset=2), quantity=1)
    order = checkout(client, user, APPROVED)
    started = time.monotonic()
    answer = client.get(f"/api/orders/{order['id']}", params={"wait": 10}, headers=user, timeout=20)
    assert answer.status_code == 200
    assert answer.json()["status"] == "CONFIRMED"  # one request: no PENDING to ask again
    assert time.monotonic() - started < 9


def test_a_declined_card_cancels_the_order_and_restores_the_stock(client: httpx.Client) -> None:
    user = signed_in(client)
    product = product_at(client, offset=1)
    add_to_cart(client, user, product)
    stock_before = available(client, product["sku"])
    order = checkout(client, user, DECLINED)

    cancelled = wait_for_status(client, user, order["id"], "CANCELLED")
    assert cancelled["reason"] == "PAYMENT_DECLINED"
    wait_for_available(client, product["sku"], stock_before)
    payment = client.get(f"/api/payments/{order['id']}", headers=user).json()
    assert payment["status"] == "DECLINED"
    assert client.get("/api/cart", headers=user).json()["items"] != []


def test_not_enough_stock_cancels_without_any_payment(client: httpx.Client) -> None:
    staff, user = admin(client), signed_in(client)
    product = product_at(client, offset=2)
    set_stock = client.put(
        f"/api/inventory/items/{product['sku']}", json={"on_hand": 1}, headers=staff
    )
    assert set_stock.status_code == 200, set_stock.text
    add_to_cart(client, user, product, quantity=3)
    order = checkout(client, user, APPROVED)

    cancelled = wait_for_status(client, user, order["id"], "CANCELLED")
    assert cancelled["reason"] == "OUT_OF_STOCK"
    assert client.get(f"/api/payments/{order['id']}", headers=user).status_code == 404
    assert available(client, product["sku"]) == 1


def test_another_users_order_payment_and_shipment_are_404(client: httpx.Client) -> None:
    owner, stranger = signed_in(client), signed_in(client)
    add_to_cart(client, owner, product_at(client, offset=3), quantity=1)
    order = checkout(client, owner, APPROVED)
    wait_for_status(client, owner, order["id"], "CONFIRMED", within=10)

    order_id = order["id"]
    assert client.get(f"/api/orders/{order_id}", headers=stranger).status_code == 404
    assert client.post(f"/api/orders/{order_id}/cancel", headers=stranger).status_code == 404
    assert client.get(f"/api/payments/{order_id}", headers=stranger).status_code == 404
    shipment = client.get(
        "/api/shipping/shipments", params={"order_id": order_id}, headers=stranger
    )
    assert shipment.status_code == 404
    assert all(
        o["id"] != order_id for o in client.get("/api/orders", headers=stranger).json()["items"]
    )


def _cart_line(client: httpx.Client, user: dict[str, str], product_id: str) -> dict[str, Any]:
    cart = client.get("/api/cart", headers=user).json()
    [line] = [item for item in cart["items"] if item["product_id"] == product_id]
    return dict(line, checkout_ready=cart["checkout_ready"])


def test_admin_price_change_reaches_carts_and_a_deleted_product_blocks_checkout(
    client: httpx.Client,
) -> None:
    staff, user = admin(client), signed_in(client)
    created = client.post(
        "/api/catalog/products",
        json={
            "sku": f"E2E-{uuid.uuid4().hex[:8].upper()}",
            "name": "Limited Edition Teapot",
            "description": "A teapot that exists only for this test.",
            "price": {"amount": 3000, "currency": "USD"},
            "categories": ["kitchen"],
        },
        headers=staff,
    )
    assert created.status_code == 201, created.text
    product = created.json()
    add_to_cart(client, user, product, quantity=1)

    repriced = client.patch(
        f"/api/catalog/products/{product['id']}",
        json={"price": {"amount": 2500, "currency": "USD"}},
        headers=staff,
    )
    assert repriced.status_code == 200, repriced.text
    eventually(
        lambda: _cart_line(client, user, product["id"]),
        lambda line: line["unit_price"]["amount"] == 2500,
        timeout=10,
        interval=0.2,
        message="the new price never reached the cart",
    )

    deleted = client.delete(f"/api/catalog/products/{product['id']}", headers=staff)
    assert deleted.status_code == 204
    eventually(
        lambda: _cart_line(client, user, product["id"]),
        lambda line: not line["checkout_ready"],
        timeout=10,
        interval=0.2,
        message="the deleted product was never flagged",
    )
    assert _cart_line(client, user, product["id"])["available"] is False
    refused = place_order(client, user)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
