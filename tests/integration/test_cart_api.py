"""Cart's HTTP API in-process, with real tokens, a real store and a fake catalog server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emporium.launcher.nats import EmbeddedNats
from tests.integration._cart_fakes import Cart, FakeCatalog, running_cart
from tests.integration._services import unique_namespace


@pytest.fixture
async def catalog() -> AsyncIterator[FakeCatalog]:
    async with FakeCatalog().serving() as catalog:
        yield catalog


@pytest.fixture(params=["sql", "redis"])
async def cart(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    embedded_nats: EmbeddedNats,
    catalog: FakeCatalog,
) -> AsyncIterator[Cart]:
    async with running_cart(
        tmp_path / "var", embedded_nats.url, unique_namespace(), request.param, catalog
    ) as cart:
        yield cart


def money(amount: int) -> dict[str, object]:
    return {"amount": amount, "currency": "USD"}


async def test_a_new_user_has_an_empty_cart(cart: Cart) -> None:
    response = await cart.client.get("/api/cart", headers=cart.as_user(uuid.uuid4()))
    assert response.status_code == 200
    assert response.json() == {"items": [], "total": money(0), "checkout_ready": False}


async def test_lines_are_added_updated_removed_and_totalled_server_side(cart: Cart) -> None:
    user = cart.as_user(uuid.uuid4())
    teapot, cups = cart.catalog.add("Teapot", 1999), cart.catalog.add("Cups", 450)

    added = await cart.client.put(f"/api/cart/items/{teapot}", json={"quantity": 2}, headers=user)
    assert added.status_code == 200
    (line,) = added.json()["items"]
    assert line == {
        "product_id": str(teapot),
        "sku": cart.catalog.products[str(teapot)]["sku"],
        "name": "Teapot",
        "quantity": 2,
        "unit_price": money(1999),
        "line_total": money(3998),
        "available": True,
    }
    await cart.client.put(f"/api/cart/items/{cups}", json={"quantity": 4}, headers=user)
    updated = await cart.client.put(f"/api/cart/items/{teapot}", json={"quantity": 1}, headers=user)
    assert updated.json()["total"] == money(1999 + 4 * 450)
    assert updated.json()["checkout_ready"] is True

    removed = await cart.client.delete(f"/api/cart/items/{cups}", headers=user)
    assert removed.status_code == 204
    again = await cart.client.delete(f"/api/cart/items/{cups}", headers=user)
    assert again.status_code == 204
    body = (await cart.client.get("/api/cart", headers=user)).json()
    assert [i["product_id"] for i in body["items"]] == [str(teapot)]
    assert body["total"] == money(1999)

    zero = await cart.client.put(f"/api/cart/items/{teapot}", json={"quantity": 0}, headers=user)
    assert zero.json()["items"] == []


async def test_emptying_the_cart_removes_every_line(cart: Cart) -> None:
    user = cart.as_user(uuid.uuid4())
    for _ in range(3):
        product = cart.catalog.add()
        await cart.client.put(f"/api/cart/items/{product}", json={"quantity": 1}, headers=user)
    assert (await cart.client.delete("/api/cart", headers=user)).status_code == 204
    assert (await cart.client.delete("/api/cart", headers=user)).status_code == 204
    assert (await cart.client.get("/api/cart", headers=user)).json()["items"] == []


async def test_a_user_never_sees_or_changes_another_users_cart(cart: Cart) -> None:
    alice, bob = cart.as_user(uuid.uuid4()), cart.as_user(uuid.uuid4())
    product = cart.catalog.add("Lamp", 5000)
    await cart.client.put(f"/api/cart/items/{product}", json={"quantity": 3}, headers=alice)

    assert (await cart.client.get("/api/cart", headers=bob)).json()["items"] == []
    await cart.client.put(f"/api/cart/items/{product}", json={"quantity": 1}, headers=bob)
    await cart.client.delete(f"/api/cart/items/{product}", headers=bob)
    await cart.client.delete("/api/cart", headers=bob)

    (line,) = (await cart.client.get("/api/cart", headers=alice)).json()["items"]
    assert line["quantity"] == 3


async def test_the_cart_needs_a_valid_bearer_token(cart: Cart) -> None:
    assert (await cart.client.get("/api/cart")).status_code == 401
    forged = {"Authorization": "Bearer not.a.token"}
    response = await cart.client.get("/api/cart", headers=forged)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_unknown_product_is_a_404_problem(cart: Cart) -> None:
    user = cart.as_user(uuid.uuid4())
    response = await cart.client.put(
        f"/api/cart/items/{uuid.uuid4()}", json={"quantity": 1}, headers=user
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await cart.client.get("/api/cart", headers=user)).json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [{"quantity": 100}, {"quantity": -1}, {"quantity": "2"}, {"quantity": 1.5}, {}, [1]],
)
async def test_a_quantity_outside_0_to_99_or_not_an_integer_is_a_422_problem(
    cart: Cart, body: object
) -> None:
    product = cart.catalog.add()
    response = await cart.client.put(
        f"/api/cart/items/{product}", json=body, headers=cart.as_user(uuid.uuid4())
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert cart.catalog.hits[str(product)] == 0


async def test_malformed_json_is_a_422_problem(cart: Cart) -> None:
    response = await cart.client.put(
        f"/api/cart/items/{cart.catalog.add()}",
        content=b'{"quantity": ',
        headers={**cart.as_user(uuid.uuid4()), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_product_id_that_is_not_a_uuid_is_a_422_problem(cart: Cart) -> None:
    response = await cart.client.put(
        "/api/cart/items/not-a-uuid", json={"quantity": 1}, headers=cart.as_user(uuid.uuid4())
    )
    assert response.status_code == 422


async def test_a_product_priced_in_another_currency_is_refused(cart: Cart) -> None:
    product = cart.catalog.add(currency="EUR")
    response = await cart.client.put(
        f"/api/cart/items/{product}", json={"quantity": 1}, headers=cart.as_user(uuid.uuid4())
    )
    assert response.status_code == 422


async def test_a_cart_holds_a_bounded_number_of_products(cart: Cart) -> None:
    user = cart.as_user(uuid.uuid4())
    for _ in range(50):
        product = cart.catalog.add()
        ok = await cart.client.put(f"/api/cart/items/{product}", json={"quantity": 1}, headers=user)
        assert ok.status_code == 200
    one_more = await cart.client.put(
        f"/api/cart/items/{cart.catalog.add()}", json={"quantity": 1}, headers=user
    )
    assert one_more.status_code == 422
    assert one_more.headers["content-type"] == "application/problem+json"


async def test_with_catalog_failing_reads_work_and_adds_are_503_then_not_even_sent(
    cart: Cart,
) -> None:
    user = cart.as_user(uuid.uuid4())
    kept, product = cart.catalog.add(), cart.catalog.add()
    await cart.client.put(f"/api/cart/items/{kept}", json={"quantity": 2}, headers=user)
    cart.catalog.failing = True

    for _ in range(3):
        response = await cart.client.put(
            f"/api/cart/items/{product}", json={"quantity": 1}, headers=user
        )
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
    sent = cart.catalog.hits[str(product)]
    # The breaker is open now: the next add is refused without calling catalog.
    refused = await cart.client.put(
        f"/api/cart/items/{product}", json={"quantity": 1}, headers=user
    )
    assert refused.status_code == 503
    assert "retry-after" in refused.headers
    assert cart.catalog.hits[str(product)] == sent

    read = await cart.client.get("/api/cart", headers=user)
    assert read.status_code == 200
    assert [i["quantity"] for i in read.json()["items"]] == [2]
    removed = await cart.client.put(f"/api/cart/items/{kept}", json={"quantity": 0}, headers=user)
    assert removed.status_code == 200
    assert removed.json()["items"] == []


async def test_with_catalog_unreachable_reads_work_and_adds_are_503(
    tmp_path: Path, embedded_nats: EmbeddedNats
) -> None:
    catalog = FakeCatalog()
    async with catalog.serving():
        product = catalog.add()
    # The server is gone: its port refuses connections.
    async with running_cart(
        tmp_path / "var", embedded_nats.url, unique_namespace(), "sql", catalog
    ) as cart:
        user = cart.as_user(uuid.uuid4())
        response = await cart.client.put(
            f"/api/cart/items/{product}", json={"quantity": 1}, headers=user
        )
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert (await cart.client.get("/api/cart", headers=user)).status_code == 200


async def test_readiness_checks_the_cart_store(cart: Cart) -> None:
    response = await cart.client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["cart_store"] is True
