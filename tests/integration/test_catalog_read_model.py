"""The catalog's read model stays current across replicas, on NATS and on RabbitMQ.

Two catalog replicas share one store and one broker namespace, as under
``emporium up --replicas catalog=2``. Their read models keep entries for five
minutes here, so only a change event (or the replica's own write) can make
them answer anything new within the test's few seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Database
from emporium.chassis.messaging import Outbox
from emporium.chassis.testing import TokenFactory
from emporium.services.catalog.main import create_app
from emporium.services.catalog.models import Product
from emporium.services.catalog.schemas import ProductOut
from emporium.services.catalog.seed import seed
from emporium.services.catalog.settings import CatalogSettings
from tests._poll import eventually_async
from tests.integration._services import chassis_settings, running, unique_namespace

LONG_TTL = 300.0


@asynccontextmanager
async def replicas(
    var_dir: Path, broker_url: str, *ttls: float
) -> AsyncIterator[tuple[list[httpx.AsyncClient], Database, TokenFactory]]:
    """One catalog replica per ``ttl`` (its read model's), on one seeded SQLite store."""
    namespace = unique_namespace()
    url = CatalogSettings().resolved_database_url("catalog", var_dir)
    database = Database(url)
    await seed(database, Outbox(namespace=namespace))
    tokens = TokenFactory()
    chassis = chassis_settings(var_dir, broker_url, namespace)

    def replica(ttl: float) -> Callable[[ChassisSettings], FastAPI]:
        settings = CatalogSettings(database_url=url, read_model_ttl=ttl)
        return lambda s: create_app(s, settings, auth=tokens.verifier())

    try:
        async with AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(running(replica(ttl), chassis)) for ttl in ttls
            ]
            yield clients, database, tokens
    finally:
        await database.dispose()


async def _first_product(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/catalog/products", params={"limit": 1})
    assert response.status_code == 200
    product: dict[str, Any] = response.json()["items"][0]
    return product


async def test_a_replica_answers_the_change_another_replica_made(
    var_dir: Path, broker_url: str
) -> None:
    async with replicas(var_dir, broker_url, LONG_TTL, LONG_TTL) as ([a, b], _, tokens):
        product = await _first_product(b)
        path = f"/api/catalog/products/{product['id']}"
        before = await b.get(path)  # now in b's read model
        new_name = f"Renamed {uuid.uuid4().hex[:8]}"
        patched = await a.patch(path, json={"name": new_name}, headers=tokens.headers(role="admin"))
        assert patched.status_code == 200, patched.text

        async def b_sees_it() -> str:
            response = await b.get(path)
            assert response.status_code == 200
            name: str = response.json()["name"]
            return name

        await eventually_async(
            b_sees_it,
            lambda name: name == new_name,
            timeout=10,
            message="replica b never served the name replica a wrote",
        )
        after = await b.get(path)
        assert after.headers["etag"] != before.headers["etag"]
        page = await b.get("/api/catalog/products", params={"q": new_name.split()[1]})
        assert [item["id"] for item in page.json()["items"]] == [product["id"]]


async def test_a_product_deleted_on_one_replica_is_gone_on_the_other(
    var_dir: Path, broker_url: str
) -> None:
    async with replicas(var_dir, broker_url, LONG_TTL, LONG_TTL) as ([a, b], _, tokens):
        product = await _first_product(b)
        path = f"/api/catalog/products/{product['id']}"
        assert (await b.get(path)).status_code == 200
        deleted = await a.delete(path, headers=tokens.headers(role="admin"))
        assert deleted.status_code == 204

        async def status_on_b() -> int:
            return (await b.get(path)).status_code

        await eventually_async(
            status_on_b,
            lambda status: status == 404,
            timeout=10,
            message="replica b kept serving a product replica a deleted",
        )


@pytest.mark.parametrize("broker_url", ["nats"], indirect=True)
async def test_etag_changes_with_the_product_and_revalidation_sees_it_at_once(
    var_dir: Path, broker_url: str
) -> None:
    async with replicas(var_dir, broker_url, LONG_TTL) as ([catalog], _, tokens):
        product = await _first_product(catalog)
        path = f"/api/catalog/products/{product['id']}"
        first = await catalog.get(path)
        etag = first.headers["etag"]
        assert (await catalog.get(path, headers={"If-None-Match": etag})).status_code == 304
        new_price = {"amount": product["price"]["amount"] + 1, "currency": "USD"}
        admin = tokens.headers(role="admin")
        assert (await catalog.patch(path, json={"price": new_price}, headers=admin)).is_success
        # This replica's own write: no waiting for the broker.
        again = await catalog.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 200
        assert again.headers["etag"] != etag
        assert again.json()["price"] == new_price


@pytest.mark.parametrize("broker_url", ["nats"], indirect=True)
async def test_read_model_answers_the_bytes_and_tags_the_store_gives(
    var_dir: Path, broker_url: str
) -> None:
    async with replicas(var_dir, broker_url, LONG_TTL, 0.0) as ([cached, uncached], db, _):
        product = await _first_product(uncached)
        paths = [
            f"/api/catalog/products/{product['id']}",
            "/api/catalog/products?limit=20",
            "/api/catalog/products?q=wool",
            "/api/catalog/products?category=audio&limit=3&offset=1",
        ]
        for path in paths:
            await cached.get(path)  # fills the read model
            hit, fresh = await cached.get(path), await uncached.get(path)
            assert hit.status_code == fresh.status_code == 200
            assert hit.content == fresh.content, path
            assert hit.headers["etag"] == fresh.headers["etag"], path
        async with db.session() as session:
            orm = await session.get(Product, product["id"])
            assert orm is not None
            expected = ProductOut.of(orm).model_dump_json().encode()
        assert (await cached.get(paths[0])).content == expected
