"""Catalog search, browse and conditional GET, on SQLite (FTS5) and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from emporium.chassis import Database
from emporium.launcher.nats import EmbeddedNats
from emporium.services.catalog.demo_data import PRODUCTS
from emporium.services.catalog.models import metadata as catalog_tables
from emporium.services.catalog.settings import CatalogSettings
from tests.integration._catalog import Catalog, catalog_on, search


async def every_page(catalog: Catalog, limit: int, **params: Any) -> tuple[list[str], int]:
    ids: list[str] = []
    offset, total = 0, None
    while total is None or offset < total:
        page = await search(catalog, limit=limit, offset=offset, **params)
        assert total in (None, page["total"])
        total = page["total"]
        ids.extend(p["id"] for p in page["items"])
        offset += limit
    return ids, total or 0


async def test_search_finds_words_in_name_or_description(catalog: Catalog) -> None:
    by_name = await search(catalog, q="skillet")
    assert [p["sku"] for p in by_name["items"]] == ["KIT-001"]
    by_description = await search(catalog, q="gooseneck")
    assert [p["sku"] for p in by_description["items"]] == ["KIT-003"]
    every_word_must_match = await search(catalog, q="cast iron")
    assert [p["sku"] for p in every_word_must_match["items"]] == ["KIT-001"]
    assert (await search(catalog, q="cast gooseneck"))["total"] == 0


async def test_search_stems_and_matches_the_last_word_as_prefix(catalog: Catalog) -> None:
    assert [p["sku"] for p in (await search(catalog, q="Skillets"))["items"]] == ["KIT-001"]
    assert [p["sku"] for p in (await search(catalog, q="headph"))["items"]] == ["AUD-001"]


async def test_name_match_ranks_above_description_only_match(catalog: Catalog) -> None:
    word = "zq" + uuid.uuid4().hex[:8]
    described = await catalog.create(
        name="Plain Mug", description=f"A mug. {word} inside, {word} outside, {word} all over."
    )
    named = await catalog.create(name=f"The {word.title()} Mug", description="A mug.")
    page = await search(catalog, q=word)
    assert [p["id"] for p in page["items"]] == [named["id"], described["id"]]
    assert page["total"] == 2


@pytest.mark.parametrize(
    "params",
    [{"q": "c"}, {"q": "c", "category": "kitchen"}, {"category": "audio"}, {}],
)
async def test_pages_concatenate_to_exactly_total_distinct_products(
    catalog: Catalog, params: dict[str, str]
) -> None:
    paged, total = await every_page(catalog, 3, **params)
    whole = await search(catalog, limit=100, **params)
    assert total == whole["total"] > 0
    assert len(paged) == len(set(paged)) == total
    assert paged == [p["id"] for p in whole["items"]]
    if "category" in params:
        assert all(params["category"] in p["categories"] for p in whole["items"])


async def test_without_q_products_come_in_name_order(catalog: Catalog) -> None:
    items = (await search(catalog, limit=100))["items"]
    assert [p["name"] for p in items] == sorted(p["name"] for p in items)
    assert len(items) == len(PRODUCTS)


# Each a syntax error if it reached FTS5 or to_tsquery as query text.
HOSTILE_QS = ['"', 'skillet"', "NEAR(a b)", "a OR", "AND", "*", "name:skillet", "'", "-skillet",
              "(", "^x", "a & b | !c", "x:*", "\x00", "é", "日本", "_", "a" * 200]  # fmt: skip


async def test_query_syntax_in_q_is_only_words(catalog: Catalog) -> None:
    for q in HOSTILE_QS:
        response = await catalog.client.get("/api/catalog/products", params={"q": q})
        assert response.status_code == 200, (q, response.text)
        assert response.json()["total"] >= 0


async def test_punctuation_only_q_matches_nothing_and_blank_q_everything(catalog: Catalog) -> None:
    assert (await search(catalog, q="?!"))["total"] == 0
    assert (await search(catalog, q="  "))["total"] == len(PRODUCTS)


async def test_bad_list_parameters_are_422_problems(catalog: Catalog) -> None:
    bad: list[dict[str, str | int]] = [
        {"limit": 0},
        {"limit": 101},
        {"offset": -1},
        {"limit": "many"},
        {"q": "x" * 201},
        {"category": "a\x01"},
    ]
    for params in bad:
        response = await catalog.client.get("/api/catalog/products", params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"


async def test_ids_reads_just_those_products_in_one_request(catalog: Catalog) -> None:
    listed = (await search(catalog, limit=5))["items"]
    wanted = [listed[3]["id"], listed[0]["id"], listed[3]["id"]]  # order and repeats: no matter
    unknown = str(uuid.uuid4())
    page = await search(catalog, ids=[*wanted, unknown])
    # The listing's own order (name, id), each product once, the unknown id left out.
    assert [p["id"] for p in page["items"]] == [listed[0]["id"], listed[3]["id"]]
    assert page["items"][1] == listed[3]
    assert page["total"] == 2
    # Every other filter still applies; limit and offset page through the set.
    assert (await search(catalog, ids=wanted, limit=1, offset=1))["items"] == [listed[3]]
    category = listed[0]["categories"][0]
    in_category = await search(catalog, ids=wanted, category=category)
    expected = [p["id"] for p in (listed[0], listed[3]) if category in p["categories"]]
    assert [p["id"] for p in in_category["items"]] == expected
    assert (await search(catalog, ids=[unknown]))["total"] == 0


async def test_ids_must_be_product_ids_and_at_most_a_hundred(catalog: Catalog) -> None:
    too_many = [str(uuid.uuid4()) for _ in range(101)]
    for ids in (["not-a-uuid"], [""], too_many):
        response = await catalog.client.get("/api/catalog/products", params={"ids": ids})
        assert response.status_code == 422, ids
        assert response.headers["content-type"] == "application/problem+json"
    hundred = await catalog.client.get("/api/catalog/products", params={"ids": too_many[:100]})
    assert hundred.status_code == 200
    assert hundred.json() == {"items": [], "total": 0}


async def test_an_ids_read_changes_when_one_of_its_products_does(catalog: Catalog) -> None:
    product = await catalog.create(name="Batch Lamp")
    path = f"/api/catalog/products/{product['id']}"
    params = {"ids": [product["id"]]}
    before = await catalog.client.get("/api/catalog/products", params=params)
    patched = await catalog.client.patch(
        path, json={"price": {"amount": 4321, "currency": "USD"}}, headers=catalog.admin()
    )
    assert patched.status_code == 200
    after = await catalog.client.get("/api/catalog/products", params=params)
    assert after.json()["items"][0]["price"] == {"amount": 4321, "currency": "USD"}
    assert after.headers["etag"] != before.headers["etag"]


async def test_reads_answer_304_to_their_own_etag(catalog: Catalog) -> None:
    product = (await search(catalog, limit=1))["items"][0]
    for path in [
        "/api/catalog/products?q=coffee&limit=5",
        "/api/catalog/categories",
        f"/api/catalog/products/{product['id']}",
        product["image_url"],
    ]:
        await _answers_304_to_its_etag(catalog, path)


async def _answers_304_to_its_etag(catalog: Catalog, path: str) -> None:
    first = await catalog.client.get(path)
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = await catalog.client.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert (await catalog.client.get(path, headers={"If-None-Match": '"other"'})).status_code == 200


async def test_a_change_changes_the_etag_of_product_and_list(catalog: Catalog) -> None:
    product = await catalog.create(name="Etag Lamp")
    path = f"/api/catalog/products/{product['id']}"
    before = (await catalog.client.get(path)).headers["etag"]
    listed = (await catalog.client.get("/api/catalog/products")).headers["etag"]
    patched = await catalog.client.patch(
        path, json={"price": {"amount": 1234, "currency": "USD"}}, headers=catalog.admin()
    )
    assert patched.status_code == 200
    after = await catalog.client.get(path, headers={"If-None-Match": before})
    assert after.status_code == 200
    assert after.json()["price"] == {"amount": 1234, "currency": "USD"}
    assert after.headers["etag"] != before
    assert (await catalog.client.get("/api/catalog/products")).headers["etag"] != listed


@pytest.fixture
async def sqlite_catalog(
    request: pytest.FixtureRequest, var_dir: Path, embedded_nats: EmbeddedNats
) -> AsyncIterator[Catalog]:
    async with catalog_on("sqlite", request, var_dir, embedded_nats) as catalog:
        yield catalog


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(q=st.text(max_size=200))
async def test_no_q_string_gives_a_server_error_on_sqlite(sqlite_catalog: Catalog, q: str) -> None:
    response = await sqlite_catalog.client.get("/api/catalog/products", params={"q": q})
    assert response.status_code == 200, response.text


async def test_a_store_from_before_search_is_upgraded_and_searchable(var_dir: Path) -> None:
    database = Database(CatalogSettings().resolved_database_url("catalog", var_dir))
    async with database.engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE products (id VARCHAR(36) PRIMARY KEY, sku VARCHAR(64) UNIQUE, "
                "name VARCHAR(200), description TEXT, price_amount INTEGER, currency VARCHAR(3), "
                "created_at DATETIME, updated_at DATETIME)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO products VALUES ('00000000-0000-0000-0000-000000000001', 'OLD-1', "
                "'Vintage Kettle', 'from an older store', 500, 'USD', NULL, NULL)"
            )
        )
    await database.create_all(catalog_tables)
    await database.create_all(catalog_tables)  # idempotent
    async with database.session() as session:
        found = await session.scalars(
            text("SELECT product_id FROM products_fts WHERE products_fts MATCH 'kettle'")
        )
        assert list(found) == ["00000000-0000-0000-0000-000000000001"]
        assert await session.scalar(text("SELECT count(*) FROM products WHERE image_url IS NULL"))
    await database.dispose()
