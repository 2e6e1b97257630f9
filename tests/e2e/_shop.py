"""A customer's moves through the gateway, shared by the checkout e2e and chaos tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests._poll import eventually

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}
APPROVED, DECLINED = "4242424242424242", "4000000000000002"
ADMIN = {"email": "admin@emporium.local", "password": "emporium-admin"}


def card(number: str) -> dict[str, Any]:
    return {"number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"}


def as_a_client_would(send: Callable[[], httpx.Response], patience: float = 30) -> httpx.Response:
    """Send as a well-behaved client does: a 503 means nothing was done (the
    gateway or the service shed load it could not take), so it is sent again
    after ``Retry-After``, for ``patience`` s."""
    give_up = time.monotonic() + patience
    while True:
        answer = send()
        wait = float(answer.headers.get("Retry-After", "1"))
        if answer.status_code != 503 or time.monotonic() + wait > give_up:
            return answer
        time.sleep(wait)


def login(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    credentials = {"email": email, "password": password}
    token = as_a_client_would(lambda: client.post("/api/identity/token", json=credentials))
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def signed_in(client: httpx.Client) -> dict[str, str]:
    """A new customer, registered and logged in: their Authorization header."""
    email, password = f"buyer-{uuid.uuid4().hex[:10]}@example.test", "a long passphrase 42"
    body = {"email": email, "password": password, "name": "Buyer"}
    created = as_a_client_would(lambda: client.post("/api/identity/users", json=body))
    assert created.status_code == 201, created.text
    return login(client, email, password)


def admin(client: httpx.Client) -> dict[str, str]:
    return login(client, ADMIN["email"], ADMIN["password"])


def product_at(client: httpx.Client, offset: int) -> dict[str, Any]:
    (product,) = client.get(f"/api/catalog/products?limit=1&offset={offset}").json()["items"]
    return dict(product)


def add_to_cart(
    client: httpx.Client, user: dict[str, str], product: dict[str, Any], quantity: int = 2
) -> None:
    added = client.put(
        f"/api/cart/items/{product['id']}", json={"quantity": quantity}, headers=user
    )
    assert added.status_code == 200, added.text


def place_order(
    client: httpx.Client, user: dict[str, str], number: str = APPROVED, *, patience: float = 30
) -> httpx.Response:
    """POST the order as a well-behaved client does, again with the same key
    after a 503 (checkout sheds load it could not finish in time)."""
    body = {"shipping_address": ADDRESS, "payment": card(number)}
    headers = {**user, "Idempotency-Key": str(uuid.uuid4())}
    return as_a_client_would(
        lambda: client.post("/api/orders", json=body, headers=headers), patience
    )


def checkout(client: httpx.Client, user: dict[str, str], number: str = APPROVED) -> dict[str, Any]:
    placed = place_order(client, user, number)
    assert placed.status_code == 202, placed.text
    return dict(placed.json())


def wait_for_status(
    client: httpx.Client, user: dict[str, str], order_id: str, status: str, within: float = 20
) -> dict[str, Any]:
    def order() -> dict[str, Any]:
        found: dict[str, Any] = client.get(f"/api/orders/{order_id}", headers=user).json()
        return found

    return eventually(
        order,
        lambda found: found.get("status") == status,
        timeout=within,
        interval=0.2,
        message=f"order {order_id} never became {status}",
    )


def available(client: httpx.Client, sku: str) -> int:
    return int(client.get(f"/api/inventory/items/{sku}").json()["available"])


def wait_for_available(client: httpx.Client, sku: str, expected: int, within: float = 15) -> None:
    eventually(
        lambda: available(client, sku),
        lambda now: now == expected,
        timeout=within,
        interval=0.2,
        message=f"{sku} never had {expected} available",
    )
