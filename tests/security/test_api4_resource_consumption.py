"""API4:2023 Unrestricted Resource Consumption: bodies, fields and pages are
bounded, and a burst of password hashing is shed (503 + Retry-After) instead
of exhausting identity's memory."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests._system import System
from tests.e2e._shop import ADDRESS, add_to_cart, card, product_at
from tests.security.conftest import Caller, connect, is_problem

pytestmark = [pytest.mark.e2e, pytest.mark.security]


def test_a_body_over_the_gateways_limit_is_413_before_any_service(caller: Caller) -> None:
    huge = b'{"name": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    response = caller.http.post(
        "/api/catalog/products", content=huge, headers={"content-type": "application/json"}
    )
    assert is_problem(response, 413)


def test_a_body_over_a_services_limit_is_413(caller: Caller) -> None:
    user = caller.customer()
    body = {"shipping_address": {**ADDRESS, "line2": "y" * (2 * 1024 * 1024)}, "payment": {}}
    response = caller.http.post(
        "/api/orders", json=body, headers={**user, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert is_problem(response, 413)


def test_a_million_character_shipping_name_is_refused_not_carried_through_the_saga(
    caller: Caller,
) -> None:
    user = caller.customer()
    add_to_cart(caller.http, user, product_at(caller.http, 5), quantity=1)
    body = {
        "shipping_address": {**ADDRESS, "name": "N" * 1_000_000},
        "payment": card("4242424242424242"),
    }
    response = caller.http.post(
        "/api/orders", json=body, headers={**user, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert is_problem(response, 422)
    assert caller.http.get("/api/orders", headers=user).json()["total"] == 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "/api/identity/users",
            {"email": "a@example.com", "password": "x" * 200, "name": "A"},
        ),
        (
            "POST",
            "/api/identity/users",
            {"email": "a@example.com", "password": "long enough", "name": "A" * 10_000},
        ),
        (
            "POST",
            "/api/identity/users",
            {"email": "a" * 300 + "@example.com", "password": "long enough", "name": "A"},
        ),
        ("POST", "/api/identity/token", {"email": "a@example.com", "password": "x" * 100_000}),
        (
            "POST",
            "/api/shipping/quotes",
            {"country": "U" * 100_000, "items": [{"sku": "A", "quantity": 1}]},
        ),
        (
            "POST",
            "/api/shipping/quotes",
            {"country": "US", "items": [{"sku": "A" * 10_000, "quantity": 1}]},
        ),
        ("GET", "/api/catalog/products?q=" + "q" * 10_000, None),
        ("GET", "/api/catalog/products?category=" + "c" * 10_000, None),
    ],
)
def test_every_free_text_field_is_bounded(
    caller: Caller, method: str, path: str, body: object
) -> None:
    response = caller.http.request(method, path, json=body)
    assert is_problem(response, 422), response.status_code


@pytest.mark.parametrize(
    "path",
    [
        "/api/catalog/products?limit=100000",
        "/api/orders?limit=100000",
        "/api/payments?limit=100000",
        "/api/identity/users?limit=100000",
        "/api/inventory/items?limit=100000",
        "/api/notifications?limit=100000",
    ],
)
def test_page_sizes_are_capped(caller: Caller, path: str) -> None:
    assert is_problem(caller.http.get(path, headers=caller.admin()), 422)


def test_a_burst_of_password_hashing_is_shed_with_503_and_identity_stays_up(
    system: System,
) -> None:
    def one_login(_n: int) -> httpx.Response:
        with connect(system) as caller:  # each from its own address: only identity's bound
            return caller.http.post(
                "/api/identity/token",
                json={"email": f"burst-{uuid.uuid4().hex[:8]}@example.com", "password": "burst-pw"},
            )

    with ThreadPoolExecutor(max_workers=60) as pool:
        responses = list(pool.map(one_login, range(60)))
    statuses = {r.status_code for r in responses}
    assert statuses <= {401, 503}, statuses
    shed = [r for r in responses if r.status_code == 503]
    assert shed, "60 hashes at once were all queued: nothing bounds the work"
    assert all(is_problem(r, 503) and r.headers.get("retry-after") for r in shed)
    with connect(system) as caller:
        caller.login(caller.register())  # identity still serves
