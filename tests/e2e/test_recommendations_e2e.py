"""Recommendations through the gateway, in the whole system started by the launcher:
learned from real confirmed orders, and rebuilt by a late instance from the real
orders, catalog and identity APIs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emporium.launcher.nats import EmbeddedNats
from emporium.services.recommendations.settings import RecommendationsSettings
from tests._poll import eventually, eventually_async
from tests._system import System, running_system
from tests.e2e._shop import ADMIN, add_to_cart, checkout, product_at, signed_in, wait_for_status
from tests.integration._recommendations_support import opened_store, running_recommendations
from tests.integration._services import unique_namespace

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    with running_system() as system:
        yield system


@pytest.fixture
def client(system: System) -> Iterator[httpx.Client]:
    with system.client() as client:
        yield client


def recommended(client: httpx.Client, product_id: str) -> dict[str, Any]:
    response = client.get(f"/api/recommendations/products/{product_id}", params={"limit": 20})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_seeded_product_falls_back_to_its_category(client: httpx.Client) -> None:
    product = product_at(client, 0)
    eventually(
        lambda: recommended(client, product["id"])["items"],
        timeout=30,
        message="recommendations to learn the pair",
    )
    body = recommended(client, product["id"])
    assert body["fallback"] is True
    assert {item["reason"] for item in body["items"]} == {"same_category"}
    unknown = client.get(f"/api/recommendations/products/{uuid.uuid4()}")
    assert unknown.status_code == 404


def test_a_confirmed_order_teaches_what_sells_together_and_a_late_instance_relearns_it(
    client: httpx.Client, system: System, embedded_nats: EmbeddedNats, tmp_path: Path
) -> None:
    first, second = product_at(client, 3), product_at(client, 17)
    user = signed_in(client)
    add_to_cart(client, user, first, 1)
    add_to_cart(client, user, second, 1)
    order = checkout(client, user)
    wait_for_status(client, user, order["id"], "CONFIRMED")

    def learned() -> bool:
        items = recommended(client, first["id"])["items"]
        return any(
            i["product_id"] == second["id"] and i["reason"] == "bought_together" for i in items
        )

    eventually(learned, timeout=20, message="recommendations to learn the order")
    asked = [first["id"], second["id"], product_at(client, 0)["id"]]
    expected = [recommended(client, product_id) for product_id in asked]

    # A new instance with an empty store of its own and a broker namespace that
    # has seen none of it: only the backfill, through the gateway, can teach it.
    settings = RecommendationsSettings(
        store="sql",
        backfill_retry_seconds=0.2,
        admin_password=ADMIN["password"],
        identity_url=system.gateway,
        catalog_url=system.gateway,
        orders_url=system.gateway,
    )
    var_dir = tmp_path / "late"

    async def rebuilt() -> list[Any]:
        async with (
            running_recommendations(
                var_dir, embedded_nats.url, unique_namespace(), settings
            ) as late,
            opened_store(settings, var_dir) as store,
        ):
            await eventually_async(store.backfilled, timeout=30, message="the backfill to complete")
            answers = []
            for product_id in asked:
                response = await late.get(
                    f"/api/recommendations/products/{product_id}", params={"limit": 20}
                )
                answers.append(response.json())
            return answers

    assert asyncio.run(rebuilt()) == expected
