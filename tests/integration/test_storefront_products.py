"""The storefront keeps catalog's products while it hears catalog's events.

The storefront runs in-process against the fake API, with a real broker (the
embedded NATS, a namespace per test). A product page asks catalog for its
product and the recommended ones once; catalog's event about a product makes
the next page ask again and show the change. Without its broker, or with a
cache time of 0, every page asks, as before.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emporium.contracts.catalog import PriceChanged, ProductUpdated
from emporium.contracts.money import Money
from emporium.launcher.nats import EmbeddedNats
from tests._poll import eventually_async
from tests.integration._messaging_support import publish, unique
from tests.integration._storefront_fakes import FakeApi, storefront


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    async with FakeApi().serving() as fake:
        yield fake


async def _hearing(shop: httpx.AsyncClient) -> None:
    async def broker() -> Any:
        return (await shop.get("/health/ready")).json()["checks"]["broker"]

    await eventually_async(broker, timeout=15, message="the storefront hears catalog")


def _by_id(api: FakeApi, product: dict[str, Any]) -> int:
    return api.hits[f"GET /api/catalog/products/{product['id']}"]


async def test_product_pages_ask_catalog_once_while_the_storefront_hears_it(
    api: FakeApi, embedded_nats: EmbeddedNats, tmp_path: Path
) -> None:
    async with storefront(api, tmp_path, broker_url=embedded_nats.url, namespace=unique()) as shop:
        await _hearing(shop)
        for _ in range(3):
            page = await shop.get(f"/products/{api.skillet['id']}")
            assert "Skillet" in page.text
            assert "Knife" in page.text  # the recommended product
            fragment = await shop.get(f"/products/{api.skillet['id']}/availability")
            assert fragment.status_code == 200
    assert _by_id(api, api.skillet) == 1
    assert api.hits["GET /api/catalog/products"] == 1  # the recommended ones, once


async def test_catalogs_event_about_a_product_makes_the_next_page_show_the_change(
    api: FakeApi, embedded_nats: EmbeddedNats, tmp_path: Path
) -> None:
    ns = unique()
    async with storefront(api, tmp_path, broker_url=embedded_nats.url, namespace=ns) as shop:
        await _hearing(shop)
        url = f"/products/{api.skillet['id']}"
        assert "Skillet" in (await shop.get(url)).text
        api.skillet["name"] = "Cast-iron pan"
        assert "Cast-iron pan" not in (await shop.get(url)).text  # kept, not asked
        await publish(
            embedded_nats.url,
            ns,
            ProductUpdated(
                product_id=uuid.UUID(api.skillet["id"]),
                sku=api.skillet["sku"],
                name="Cast-iron pan",
            ),
        )

        async def shown() -> str:
            return (await shop.get(url)).text

        await eventually_async(
            shown, lambda text: "Cast-iron pan" in text, timeout=10, message="the change shown"
        )
        assert _by_id(api, api.skillet) == 2

        # An event about the recommended product: only it is asked again.
        api.knife["price"] = {"amount": 4500, "currency": "USD"}
        await publish(
            embedded_nats.url,
            ns,
            PriceChanged(
                product_id=uuid.UUID(api.knife["id"]),
                sku=api.knife["sku"],
                old_price=Money(amount=3900, currency="USD"),
                new_price=Money(amount=4500, currency="USD"),
            ),
        )
        await eventually_async(
            shown, lambda text: "$45.00" in text, timeout=10, message="the new price shown"
        )
    assert _by_id(api, api.skillet) == 2
    assert api.hits["GET /api/catalog/products"] == 2


async def test_without_its_broker_the_storefront_asks_catalog_for_every_page(
    api: FakeApi, tmp_path: Path
) -> None:
    async with storefront(api, tmp_path) as shop:
        assert (await shop.get("/health/ready")).status_code == 200  # not gated by the broker
        for _ in range(3):
            assert "Skillet" in (await shop.get(f"/products/{api.skillet['id']}")).text
    assert _by_id(api, api.skillet) == 3
    assert api.hits["GET /api/catalog/products"] == 3


async def test_a_cache_time_of_zero_keeps_nothing(
    api: FakeApi, embedded_nats: EmbeddedNats, tmp_path: Path
) -> None:
    async with storefront(
        api, tmp_path, broker_url=embedded_nats.url, namespace=unique(), product_cache_seconds=0
    ) as shop:
        await _hearing(shop)
        for _ in range(3):
            assert "Skillet" in (await shop.get(f"/products/{api.skillet['id']}")).text
    assert _by_id(api, api.skillet) == 3


async def test_a_product_catalog_does_not_know_is_asked_again(
    api: FakeApi, embedded_nats: EmbeddedNats, tmp_path: Path
) -> None:
    missing = {"id": str(uuid.uuid4())}
    async with storefront(api, tmp_path, broker_url=embedded_nats.url, namespace=unique()) as shop:
        await _hearing(shop)
        for _ in range(2):
            assert (await shop.get(f"/products/{missing['id']}")).status_code == 404
    assert _by_id(api, missing) == 2
