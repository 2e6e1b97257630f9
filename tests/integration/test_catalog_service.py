"""The catalog through its own HTTP API, on its real store and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import func, select

from emporium.chassis import Database
from emporium.chassis.messaging import OUTBOX, Outbox
from emporium.launcher.nats import EmbeddedNats
from emporium.services.catalog.demo_data import PRODUCTS
from emporium.services.catalog.main import create_app
from emporium.services.catalog.seed import seed
from emporium.services.catalog.settings import CatalogSettings
from tests.integration._services import chassis_settings, running, unique_namespace


@pytest.fixture
async def catalog(var_dir: Path, embedded_nats: EmbeddedNats) -> AsyncIterator[httpx.AsyncClient]:
    namespace = unique_namespace()
    database = Database(CatalogSettings().resolved_database_url("catalog", var_dir))
    await seed(database, Outbox(namespace=namespace))
    await database.dispose()
    async with running(create_app, chassis_settings(var_dir, embedded_nats.url, namespace)) as c:
        yield c


async def _all_products(client: httpx.AsyncClient, **params: str | int) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    offset = 0
    while True:
        page = (
            await client.get(
                "/api/catalog/products", params={**params, "limit": 7, "offset": offset}
            )
        ).json()
        items.extend(page["items"])
        offset += 7
        if offset >= page["total"]:
            return items


async def test_seeded_catalog_has_products_in_categories(catalog: httpx.AsyncClient) -> None:
    page = (await catalog.get("/api/catalog/products", params={"limit": 100})).json()
    assert page["total"] == len(PRODUCTS) >= 24
    categories = {c for p in page["items"] for c in p["categories"]}
    assert len(categories) >= 4
    listed = (await catalog.get("/api/catalog/categories")).json()
    assert {c["slug"] for c in listed} == categories
    product = page["items"][0]
    assert set(product) == {"id", "sku", "name", "description", "price", "categories", "image_url"}
    assert product["price"]["currency"] == "USD"
    assert isinstance(product["price"]["amount"], int)


async def test_every_product_has_an_image(catalog: httpx.AsyncClient) -> None:
    for product in await _all_products(catalog):
        response = await catalog.get(str(product["image_url"]))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("image/")
        assert response.text.startswith("<svg")


async def test_pages_cover_every_product_once(catalog: httpx.AsyncClient) -> None:
    items = await _all_products(catalog)
    assert len(items) == len({p["id"] for p in items}) == len(PRODUCTS)


async def test_search_matches_name_or_description(catalog: httpx.AsyncClient) -> None:
    by_name = (await catalog.get("/api/catalog/products", params={"q": "skillet"})).json()
    assert [p["sku"] for p in by_name["items"]] == ["KIT-001"]
    by_description = (await catalog.get("/api/catalog/products", params={"q": "gooseneck"})).json()
    assert [p["sku"] for p in by_description["items"]] == ["KIT-003"]


async def test_category_filter_is_consistent_with_pagination(catalog: httpx.AsyncClient) -> None:
    audio = await _all_products(catalog, category="audio")
    assert len(audio) == 5
    assert all(p["categories"] == ["audio"] for p in audio)


async def test_unknown_product_is_404_problem(catalog: httpx.AsyncClient) -> None:
    response = await catalog.get(f"/api/catalog/products/{uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "many"}],
)
async def test_bad_paging_is_422_problem(
    catalog: httpx.AsyncClient, params: dict[str, object]
) -> None:
    response = await catalog.get("/api/catalog/products", params=params)  # type: ignore[arg-type]
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_malformed_product_id_is_422_problem(catalog: httpx.AsyncClient) -> None:
    response = await catalog.get("/api/catalog/products/not-a-uuid")
    assert response.status_code == 422


async def test_seed_is_idempotent_and_writes_one_event_per_product(var_dir: Path) -> None:
    database = Database(CatalogSettings().resolved_database_url("catalog", var_dir))
    outbox = Outbox(namespace=unique_namespace())
    assert await seed(database, outbox) == len(PRODUCTS)
    assert await seed(database, outbox) == 0
    async with database.session() as session:
        events = await session.scalar(select(func.count()).select_from(OUTBOX))
    assert events == len(PRODUCTS)
    await database.dispose()
