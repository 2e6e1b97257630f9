"""Catalog's events reach inventory through the real broker: outbox → relay → inbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from emporium.chassis import Database
from emporium.chassis.messaging import Outbox
from emporium.services.catalog.demo_data import PRODUCTS
from emporium.services.catalog.main import create_app as create_catalog
from emporium.services.catalog.seed import seed
from emporium.services.catalog.settings import CatalogSettings
from emporium.services.inventory.main import create_app as create_inventory
from tests._poll import eventually_async
from tests.integration._services import chassis_settings, running, unique_namespace


async def _stock_of_every_product(inventory: httpx.AsyncClient) -> None:
    missing = {sku for sku, *_ in PRODUCTS}

    async def still_missing() -> set[str]:
        for sku in sorted(missing):
            response = await inventory.get(f"/api/inventory/items/{sku}")
            if response.status_code == 200:
                assert response.json() == {"sku": sku, "available": 50}
                missing.discard(sku)
        return missing

    await eventually_async(
        still_missing,
        lambda left: not left,
        timeout=20,
        interval=0.1,
        message="inventory never stocked every seeded product",
    )


async def test_seeded_products_get_stock_from_catalog_events(
    tmp_path: Path, broker_url: str
) -> None:
    namespace = unique_namespace()
    catalog_var, inventory_var = tmp_path / "catalog", tmp_path / "inventory"
    database = Database(CatalogSettings().resolved_database_url("catalog", catalog_var))
    await seed(database, Outbox(namespace=namespace))
    await database.dispose()

    # Inventory starts after the events were written: they wait in the outbox
    # (and then the broker) until it is there.
    async with running(create_catalog, chassis_settings(catalog_var, broker_url, namespace)):
        await asyncio.sleep(0.5)
        async with running(
            create_inventory, chassis_settings(inventory_var, broker_url, namespace)
        ) as inventory:
            await _stock_of_every_product(inventory)
            unknown = await inventory.get("/api/inventory/items/NOPE-1")
            assert unknown.status_code == 404
            assert unknown.headers["content-type"] == "application/problem+json"
