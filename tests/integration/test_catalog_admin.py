"""Admin writes on SQLite and PostgreSQL: validation, events in the outbox, reads after."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.integration._catalog import Catalog, search

PRODUCTS = "/api/catalog/products"


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_created_product_is_readable_and_announced(catalog: Catalog) -> None:
    sku = f"NEW-{uuid.uuid4().hex[:8]}"
    response = await catalog.client.post(
        PRODUCTS,
        json={
            "sku": sku,
            "name": "  Walnut Salad Bowl ",
            "description": "Turned from one piece of walnut.",
            "price": {"amount": 4599, "currency": "EUR"},
            "categories": ["kitchen", "home"],
            "image_url": "https://img.example/bowl.png",
        },
        headers=catalog.admin(),
    )
    assert response.status_code == 201, response.text
    product = response.json()
    assert response.headers["location"] == f"{PRODUCTS}/{product['id']}"
    assert product["name"] == "Walnut Salad Bowl"
    assert product["categories"] == ["home", "kitchen"]
    assert product["image_url"] == "https://img.example/bowl.png"
    assert (await catalog.client.get(response.headers["location"])).json() == product
    assert [p["id"] for p in (await search(catalog, q="walnut bowl"))["items"]] == [product["id"]]
    [event] = [e for e in await catalog.outbox("ProductCreated") if e["sku"] == sku]
    assert event["product_id"] == product["id"]
    assert event["price"] == {"amount": 4599, "currency": "EUR"}
    assert event["categories"] == ["home", "kitchen"]


async def test_without_image_url_the_drawn_image_is_served(catalog: Catalog) -> None:
    product = await catalog.create(name="Plain Cup")
    assert product["image_url"] == f"{PRODUCTS}/{product['id']}/image"
    assert (await catalog.client.get(product["image_url"])).status_code == 200


async def test_duplicate_sku_is_409_problem_and_writes_nothing(catalog: Catalog) -> None:
    product = await catalog.create()
    again = await catalog.client.post(
        PRODUCTS,
        json={"sku": product["sku"], "name": "Other", "price": {"amount": 1, "currency": "USD"}},
        headers=catalog.admin(),
    )
    _problem(again, 409)
    events = [e for e in await catalog.outbox("ProductCreated") if e["sku"] == product["sku"]]
    assert len(events) == 1


def _valid(**changes: Any) -> dict[str, Any]:
    body = {"sku": "V-1", "name": "Valid", "price": {"amount": 100, "currency": "USD"}}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


INVALID_BODIES = [
    _valid(price={"amount": 0, "currency": "USD"}),
    _valid(price={"amount": -5, "currency": "USD"}),
    _valid(price={"amount": 12.5, "currency": "USD"}),
    _valid(price={"amount": "12", "currency": "USD"}),
    _valid(price={"amount": 2**31, "currency": "USD"}),
    _valid(price={"amount": 100, "currency": "usd"}),
    _valid(price={"amount": 100, "currency": "US"}),
    _valid(price={"amount": 100}),
    _valid(name="   "),
    _valid(name="tab\there"),
    _valid(name="x" * 201),
    _valid(sku="has space"),
    _valid(sku=""),
    _valid(description="nul\x00byte"),
    _valid(categories=["Not A Slug"]),
    _valid(image_url="javascript:alert(1)"),
    _valid(colour="red"),
    {"name": "No SKU", "price": {"amount": 1, "currency": "USD"}},
]


async def test_invalid_products_are_422_problems(catalog: Catalog) -> None:
    announced = len(await catalog.outbox("ProductCreated"))
    for body in INVALID_BODIES:
        response = await catalog.client.post(PRODUCTS, json=body, headers=catalog.admin())
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    not_json = await catalog.client.post(
        PRODUCTS, content=b"{", headers={**catalog.admin(), "content-type": "application/json"}
    )
    _problem(not_json, 422)
    assert len(await catalog.outbox("ProductCreated")) == announced


async def test_unknown_categories_are_named_in_a_422_problem(catalog: Catalog) -> None:
    response = await catalog.client.post(
        PRODUCTS,
        json=_valid(categories=["kitchen", "no-such", "nor-this"]),
        headers=catalog.admin(),
    )
    assert _problem(response, 422)["unknown_categories"] == ["no-such", "nor-this"]


async def test_categories_are_made_by_admins_and_then_usable(catalog: Catalog) -> None:
    slug = f"garden-{uuid.uuid4().hex[:6]}"
    path = f"/api/catalog/categories/{slug}"
    created = await catalog.client.put(path, json={"name": "Garden"}, headers=catalog.admin())
    assert created.status_code == 201
    renamed = await catalog.client.put(
        path, json={"name": "Garden & Patio"}, headers=catalog.admin()
    )
    assert renamed.json() == {"slug": slug, "name": "Garden & Patio"}
    product = await catalog.create(categories=[slug])
    listed = await search(catalog, category=slug)
    assert [p["id"] for p in listed["items"]] == [product["id"]]
    categories = (await catalog.client.get("/api/catalog/categories")).json()
    assert {"slug": slug, "name": "Garden & Patio"} in categories
    bad = await catalog.client.put(
        "/api/catalog/categories/Bad Slug", json={"name": "x"}, headers=catalog.admin()
    )
    _problem(bad, 422)


async def test_writes_need_an_admin(catalog: Catalog) -> None:
    product = await catalog.create()
    path = f"{PRODUCTS}/{product['id']}"
    customer = catalog.tokens.headers(role="customer")
    for method, url, body in [
        ("POST", PRODUCTS, _valid()),
        ("PATCH", path, {"name": "Hacked"}),
        ("DELETE", path, None),
        ("PUT", "/api/catalog/categories/hacked", {"name": "Hacked"}),
    ]:
        anonymous = await catalog.client.request(method, url, json=body)
        _problem(anonymous, 401)
        forbidden = await catalog.client.request(method, url, json=body, headers=customer)
        _problem(forbidden, 403)
    assert (await catalog.client.get(path)).json() == product


async def test_price_change_publishes_old_and_new_price(catalog: Catalog) -> None:
    product = await catalog.create(price={"amount": 1000, "currency": "USD"})
    path = f"{PRODUCTS}/{product['id']}"
    response = await catalog.client.patch(
        path, json={"price": {"amount": 1500, "currency": "USD"}}, headers=catalog.admin()
    )
    assert response.status_code == 200
    assert response.json() == {**product, "price": {"amount": 1500, "currency": "USD"}}
    assert (await catalog.client.get(path)).json()["price"]["amount"] == 1500
    [event] = [e for e in await catalog.outbox("PriceChanged") if e["product_id"] == product["id"]]
    assert event["old_price"] == {"amount": 1000, "currency": "USD"}
    assert event["new_price"] == {"amount": 1500, "currency": "USD"}
    assert event["sku"] == product["sku"]
    assert not [e for e in await catalog.outbox("ProductUpdated") if e["sku"] == product["sku"]]


async def test_other_changes_publish_product_updated_and_reindex(catalog: Catalog) -> None:
    product = await catalog.create(name="Old Teapot", categories=["kitchen"])
    response = await catalog.client.patch(
        f"{PRODUCTS}/{product['id']}",
        json={"name": "Brass Samovar", "categories": ["home"], "image_url": "/static/s.png"},
        headers=catalog.admin(),
    )
    assert response.status_code == 200
    changed = response.json()
    assert (changed["name"], changed["categories"]) == ("Brass Samovar", ["home"])
    assert changed["image_url"] == "/static/s.png"
    assert [p["id"] for p in (await search(catalog, q="samovar"))["items"]] == [product["id"]]
    assert (await search(catalog, q="teapot"))["total"] == 0
    [event] = [e for e in await catalog.outbox("ProductUpdated") if e["sku"] == product["sku"]]
    assert (event["name"], event["categories"]) == ("Brass Samovar", ["home"])
    assert not [e for e in await catalog.outbox("PriceChanged") if e["sku"] == product["sku"]]
    restored = await catalog.client.patch(
        f"{PRODUCTS}/{product['id']}", json={"image_url": None}, headers=catalog.admin()
    )
    assert restored.json()["image_url"] == f"{PRODUCTS}/{product['id']}/image"


async def test_a_patch_that_changes_nothing_publishes_nothing(catalog: Catalog) -> None:
    product = await catalog.create(name="Same")
    path = f"{PRODUCTS}/{product['id']}"
    response = await catalog.client.patch(
        path,
        json={"name": "Same", "price": product["price"]},
        headers=catalog.admin(),
    )
    assert response.json() == product
    empty = await catalog.client.patch(path, json={}, headers=catalog.admin())
    assert empty.json() == product
    for kind in ("ProductUpdated", "PriceChanged"):
        assert not [e for e in await catalog.outbox(kind) if e["sku"] == product["sku"]]


async def test_bad_patches_are_problems(catalog: Catalog) -> None:
    product = await catalog.create()
    path = f"{PRODUCTS}/{product['id']}"
    for body in [{"name": None}, {"price": None}, {"sku": "NEW"}, {"categories": ["nope"]}]:
        response = await catalog.client.patch(path, json=body, headers=catalog.admin())
        _problem(response, 422)
    missing = await catalog.client.patch(
        f"{PRODUCTS}/{uuid.uuid4()}", json={"name": "x"}, headers=catalog.admin()
    )
    _problem(missing, 404)
    assert (await catalog.client.get(path)).json() == product


async def test_concurrent_price_changes_chain_old_and_new(catalog: Catalog) -> None:
    product = await catalog.create(price={"amount": 100, "currency": "USD"})
    path = f"{PRODUCTS}/{product['id']}"
    amounts = [201, 202, 203, 204, 205]
    responses = await asyncio.gather(
        *(
            catalog.client.patch(
                path, json={"price": {"amount": a, "currency": "USD"}}, headers=catalog.admin()
            )
            for a in amounts
        )
    )
    assert [r.status_code for r in responses] == [200] * len(amounts)
    events = [e for e in await catalog.outbox("PriceChanged") if e["sku"] == product["sku"]]
    olds = [e["old_price"]["amount"] for e in events]
    news = [e["new_price"]["amount"] for e in events]
    assert olds == [100, *news[:-1]]
    assert sorted(news) == amounts
    assert (await catalog.client.get(path)).json()["price"]["amount"] == news[-1]


async def test_deleted_product_is_gone_and_announced(catalog: Catalog) -> None:
    product = await catalog.create(name="Doomed Vase", categories=["home"])
    path = f"{PRODUCTS}/{product['id']}"
    deleted = await catalog.client.delete(path, headers=catalog.admin())
    assert deleted.status_code == 204
    assert deleted.content == b""
    _problem(await catalog.client.get(path), 404)
    _problem(await catalog.client.get(f"{path}/image"), 404)
    assert (await search(catalog, q="doomed"))["total"] == 0
    home = await search(catalog, category="home", limit=100)
    assert product["id"] not in {p["id"] for p in home["items"]}
    _problem(await catalog.client.delete(path, headers=catalog.admin()), 404)
    events = [e for e in await catalog.outbox("ProductDeleted") if e["sku"] == product["sku"]]
    assert events == [{**events[0], "product_id": product["id"], "sku": product["sku"]}]
    # The SKU is free again.
    assert (await catalog.create(sku=product["sku"]))["sku"] == product["sku"]
