"""A catalog service in-process on a fresh store, for the catalog integration tests.

Its own SQLite file, or its own PostgreSQL database made for the test and dropped
after; seeded; admin tokens from a :class:`TokenFactory`. The ``catalog`` fixture
in ``conftest.py`` gives one per store.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from emporium.chassis import Database
from emporium.chassis.messaging import OUTBOX, Outbox
from emporium.chassis.testing import TokenFactory
from emporium.launcher.nats import EmbeddedNats
from emporium.services.catalog.main import create_app
from emporium.services.catalog.seed import seed
from emporium.services.catalog.settings import CatalogSettings
from tests.integration._services import chassis_settings, running, unique_namespace

STORES = ["sqlite", "postgres"]


@dataclass
class Catalog:
    client: httpx.AsyncClient
    database: Database
    tokens: TokenFactory

    def admin(self) -> dict[str, str]:
        return self.tokens.headers(role="admin")

    async def outbox(self, message_type: str) -> list[dict[str, Any]]:
        async with self.database.session() as session:
            rows = await session.scalars(
                select(OUTBOX.c.payload).where(OUTBOX.c.type == message_type).order_by(OUTBOX.c.id)
            )
            return list(rows)

    async def create(self, **fields: Any) -> dict[str, Any]:
        body = {
            "sku": f"T-{uuid.uuid4().hex[:10]}",
            "name": "Test Product",
            "price": {"amount": 1000, "currency": "USD"},
            **fields,
        }
        response = await self.client.post("/api/catalog/products", json=body, headers=self.admin())
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


@asynccontextmanager
async def catalog_on(
    store: str, request: pytest.FixtureRequest, var_dir: Path, nats: EmbeddedNats
) -> AsyncIterator[Catalog]:
    """A seeded catalog on ``store`` ("sqlite" or "postgres"), running in-process."""
    if store == "postgres":
        url = request.getfixturevalue("postgresql_database")
        async with _catalog(url, var_dir, nats) as catalog:
            yield catalog
    else:
        url = CatalogSettings().resolved_database_url("catalog", var_dir)
        async with _catalog(url, var_dir, nats) as catalog:
            yield catalog


@asynccontextmanager
async def _catalog(url: str, var_dir: Path, nats: EmbeddedNats) -> AsyncIterator[Catalog]:
    namespace = unique_namespace()
    database = Database(url)
    await seed(database, Outbox(namespace=namespace))
    tokens = TokenFactory()
    patch = pytest.MonkeyPatch()
    patch.setenv("EMPORIUM_CATALOG_DATABASE_URL", url)
    try:
        settings_ = chassis_settings(var_dir, nats.url, namespace)
        async with running(lambda s: create_app(s, auth=tokens.verifier()), settings_) as client:
            yield Catalog(client, database, tokens)
    finally:
        patch.undo()
        await database.dispose()


async def search(catalog: Catalog, **params: Any) -> dict[str, Any]:
    response = await catalog.client.get("/api/catalog/products", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page
