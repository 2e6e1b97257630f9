"""The cart through the gateway, in the whole system started by the launcher:
real identity tokens, real catalog prices."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests._system import System

pytestmark = pytest.mark.e2e


def signed_in(client: httpx.Client) -> dict[str, str]:
    """A new customer registered and signed in through identity, as a shopper would."""
    email, password = f"cart-{uuid.uuid4().hex[:10]}@example.test", "a long passphrase 42"
    created = client.post(
        "/api/identity/users", json={"email": email, "password": password, "name": "Shopper"}
    )
    assert created.status_code == 201, created.text
    token = client.post("/api/identity/token", json={"email": email, "password": password})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def products(client: httpx.Client, count: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(f"/api/catalog/products?limit={count}").json()["items"]
    assert len(items) == count
    return items


def test_the_cart_instance_is_ready(system: System) -> None:
    (cart,) = system.instances("cart")
    assert cart["health"] == "ready"


def test_a_shopper_fills_changes_and_empties_a_cart_priced_by_catalog(
    client: httpx.Client,
) -> None:
    user = signed_in(client)
    first, second = products(client, 2)
    added = client.put(f"/api/cart/items/{first['id']}", json={"quantity": 2}, headers=user)
    assert added.status_code == 200, added.text
    client.put(f"/api/cart/items/{second['id']}", json={"quantity": 1}, headers=user)

    body = client.get("/api/cart", headers=user).json()
    assert [(i["product_id"], i["sku"], i["quantity"]) for i in body["items"]] == [
        (first["id"], first["sku"], 2),
        (second["id"], second["sku"], 1),
    ]
    assert body["items"][0]["unit_price"] == first["price"]
    expected = 2 * first["price"]["amount"] + second["price"]["amount"]
    assert body["total"] == {"amount": expected, "currency": "USD"}
    assert body["checkout_ready"] is True

    assert client.delete(f"/api/cart/items/{first['id']}", headers=user).status_code == 204
    assert [i["product_id"] for i in client.get("/api/cart", headers=user).json()["items"]] == [
        second["id"]
    ]
    assert client.delete("/api/cart", headers=user).status_code == 204
    assert client.get("/api/cart", headers=user).json()["items"] == []


def test_shoppers_never_see_each_others_carts(client: httpx.Client) -> None:
    alice, bob = signed_in(client), signed_in(client)
    (product,) = products(client, 1)
    client.put(f"/api/cart/items/{product['id']}", json={"quantity": 3}, headers=alice)
    assert client.get("/api/cart", headers=bob).json()["items"] == []
    client.delete("/api/cart", headers=bob)
    assert client.get("/api/cart", headers=alice).json()["items"][0]["quantity"] == 3


# A fixed id no product has: parameters stay the same in every collecting
# process (the suite runs on pytest-xdist workers, which must agree on test ids).
NO_SUCH_PRODUCT = "7c1a0d52-3f4e-4b8a-9d61-0e2f5a9b8c47"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (f"/api/cart/items/{NO_SUCH_PRODUCT}", {"quantity": 1}, 404),
        ("/api/cart/items/{product}", {"quantity": 100}, 422),
        ("/api/cart/items/{product}", {"quantity": -1}, 422),
    ],
)
def test_bad_adds_are_problem_json(
    client: httpx.Client, path: str, body: dict[str, int], status: int
) -> None:
    user = signed_in(client)
    (product,) = products(client, 1)
    response = client.put(path.format(product=product["id"]), json=body, headers=user)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_the_cart_needs_a_signed_in_user(client: httpx.Client) -> None:
    response = client.get("/api/cart")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
