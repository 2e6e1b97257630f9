"""A recommendations instance started after the fact rebuilds, from the orders and
catalog APIs, exactly what an instance fed by events all along answers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from emporium.launcher.nats import EmbeddedNats
from tests._poll import eventually_async
from tests.integration._recommendations_support import (
    FakeUpstreams,
    Shop,
    answer,
    deliver_and_wait,
    opened_store,
    running_recommendations,
    settings_for,
)
from tests.integration._services import unique_namespace


def a_shop_with_history() -> Shop:
    """Products recategorized and deleted, and orders in every state, including
    one confirmed then cancelled (it was confirmed: it counts) and one cancelled
    while pending (never confirmed: it does not)."""
    shop = Shop()
    teapot, cups, kettle = shop.create("tea"), shop.create("tea"), shop.create("kitchen")
    spade, gloves, retired = shop.create("garden"), shop.create("garden"), shop.create("tea")
    lonely = shop.create("tea", "kitchen")
    shop.create("books")
    shop.recategorize(kettle, "kitchen", "tea")
    shop.order(teapot, cups, kettle)
    shop.order(teapot, cups, history=("PENDING", "CONFIRMED", "SHIPPED"))
    shop.order(teapot, retired)
    shop.order(spade, gloves, teapot, history=("PENDING", "CONFIRMED", "CANCELLED"))
    shop.order(spade, gloves, history=("PENDING", "CANCELLED"))
    shop.order(kettle, gloves, history=("PENDING",))
    shop.order(lonely)
    shop.delete(retired)
    return shop


async def answers(client: httpx.AsyncClient, shop: Shop, asked: list[uuid.UUID]) -> list[Any]:
    found = []
    for product_id in asked:
        if product_id in shop.products:
            found.append(await answer(client, product_id))
        else:
            response = await client.get(f"/api/recommendations/products/{product_id}")
            found.append(response.status_code)
    return found


def every_product(shop: Shop) -> list[uuid.UUID]:
    announced = [getattr(event, "product_id", None) for event in shop.events]
    return [p for p in dict.fromkeys(announced) if p is not None] + [uuid.uuid4()]


@pytest.fixture
def nats_url(embedded_nats: EmbeddedNats) -> str:
    return embedded_nats.url


@pytest.mark.parametrize("store", ["sql", "redis"])
async def test_a_late_instance_backfills_the_same_answers_as_one_fed_all_along(
    tmp_path: Path, nats_url: str, store: str
) -> None:
    shop = a_shop_with_history()
    asked = every_product(shop)
    live_namespace = unique_namespace()
    async with running_recommendations(
        tmp_path / "live", nats_url, live_namespace, settings_for(store)
    ) as live:
        await deliver_and_wait(nats_url, live_namespace, shop.events, times=2)
        expected = await answers(live, shop, asked)
    assert any(isinstance(a, dict) and a["items"] and not a["fallback"] for a in expected)
    assert 404 in expected

    # A namespace of its own: the late instance sees no event at all, only the APIs,
    # and the first attempts find orders not answering yet.
    async with FakeUpstreams(shop, failing_orders=2).serving() as upstreams:
        settings = settings_for(
            store,
            backfill_on_start=True,
            backfill_page_size=2,
            backfill_retry_seconds=0.1,
            identity_url=upstreams.url,
            catalog_url=upstreams.url,
            orders_url=upstreams.url,
        )
        late_var = tmp_path / "late"
        async with (
            running_recommendations(late_var, nats_url, unique_namespace(), settings) as late,
            opened_store(settings, late_var) as late_store,
        ):
            await eventually_async(
                late_store.backfilled, timeout=15, message="the backfill to complete"
            )
            assert await answers(late, shop, asked) == expected
        # Three passes, one login: retries reuse the admin's token.
        assert upstreams.logins == 1


async def test_a_backfill_whose_token_expired_logs_in_again(tmp_path: Path, nats_url: str) -> None:
    shop = a_shop_with_history()
    async with FakeUpstreams(shop, expiring_tokens=1).serving() as upstreams:
        settings = settings_for(
            "sql",
            backfill_on_start=True,
            backfill_retry_seconds=0.1,
            identity_url=upstreams.url,
            catalog_url=upstreams.url,
            orders_url=upstreams.url,
        )
        var_dir = tmp_path / "var"
        async with (
            running_recommendations(var_dir, nats_url, unique_namespace(), settings),
            opened_store(settings, var_dir) as store,
        ):
            await eventually_async(store.backfilled, timeout=15, message="the backfill to complete")
        assert upstreams.logins == 2


@pytest.mark.parametrize("store", ["sql", "redis"])
async def test_a_backfill_over_a_store_fed_by_events_changes_no_answer(
    tmp_path: Path, nats_url: str, store: str
) -> None:
    shop = a_shop_with_history()
    asked = every_product(shop)
    namespace, var_dir = unique_namespace(), tmp_path / "var"
    fed = settings_for(store)
    async with running_recommendations(var_dir, nats_url, namespace, fed) as client:
        await deliver_and_wait(nats_url, namespace, shop.events)
        expected = await answers(client, shop, asked)

    async with FakeUpstreams(shop).serving() as upstreams:
        # The same store (same SQLite file or Redis prefix), now backfilled on start.
        settings = fed.model_copy(
            update={
                "backfill_on_start": True,
                "backfill_retry_seconds": 0.1,
                "identity_url": upstreams.url,
                "catalog_url": upstreams.url,
                "orders_url": upstreams.url,
            }
        )
        async with (
            running_recommendations(var_dir, nats_url, namespace, settings) as client,
            opened_store(settings, var_dir) as same_store,
        ):
            await eventually_async(
                same_store.backfilled, timeout=15, message="the backfill to complete"
            )
            assert await answers(client, shop, asked) == expected


async def test_a_refused_admin_login_leaves_the_store_not_backfilled(
    tmp_path: Path, nats_url: str
) -> None:
    shop = a_shop_with_history()
    async with FakeUpstreams(shop).serving() as upstreams:
        settings = settings_for(
            "sql",
            backfill_on_start=True,
            backfill_retry_seconds=0.1,
            admin_password="not-the-password",
            identity_url=upstreams.url,
            catalog_url=upstreams.url,
            orders_url=upstreams.url,
        )
        var_dir = tmp_path / "var"
        async with (
            running_recommendations(var_dir, nats_url, unique_namespace(), settings) as client,
            opened_store(settings, var_dir) as store,
        ):
            # Refused twice: the first pass failed as a whole and was tried again.
            await eventually_async(
                lambda: _refused(upstreams, 2), timeout=15, message="a second refused login"
            )
            assert not await store.backfilled()
            # The catalog is public, so its pass was done; orders need the admin.
            teapot = next(iter(shop.products))
            response = await client.get(f"/api/recommendations/products/{teapot}")
            assert response.status_code == 200


async def _refused(upstreams: FakeUpstreams, times: int) -> bool:
    return upstreams.refused_logins >= times
