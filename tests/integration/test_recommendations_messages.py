"""Orders' and catalog's events reach recommendations through the real broker and
shape its answers; each delivered twice has one effect, on both stores and brokers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from emporium.contracts import Money
from emporium.contracts.orders import OrderConfirmed, OrderLine
from tests._poll import eventually_async
from tests.integration._recommendations_support import (
    Shop,
    answer,
    deliver_and_wait,
    running_recommendations,
    settings_for,
)
from tests.integration._services import unique_namespace


class Scene:
    def __init__(self, client: httpx.AsyncClient, broker_url: str, namespace: str) -> None:
        self.client = client
        self.broker_url = broker_url
        self.namespace = namespace
        self.shop = Shop()

    async def publish(self, *, times: int = 1) -> None:
        """Deliver what happened in the shop since the last call."""
        await deliver_and_wait(self.broker_url, self.namespace, self.shop.events, times=times)
        self.shop.events.clear()


# Answers are kept in the read model far longer than any test runs: an answer
# that changes does so because the write or event that changed it cleared it.
LONG_TTL = 600.0


@pytest.fixture(params=["sql", "redis"])
async def scene(
    request: pytest.FixtureRequest, tmp_path: Path, broker_url: str
) -> AsyncIterator[Scene]:
    namespace = unique_namespace()
    settings = settings_for(request.param, read_model_ttl=LONG_TTL)
    async with running_recommendations(tmp_path / "var", broker_url, namespace, settings) as client:
        yield Scene(client, broker_url, namespace)


def items(body: dict[str, object]) -> list[tuple[str, int, str]]:
    found = body["items"]
    assert isinstance(found, list)
    return [(item["product_id"], item["score"], item["reason"]) for item in found]


async def test_each_event_delivered_twice_counts_its_order_once(scene: Scene) -> None:
    teapot, cups, tray = scene.shop.create("tea"), scene.shop.create("tea"), scene.shop.create()
    scene.shop.order(teapot, cups, tray)
    scene.shop.order(teapot, cups)
    await scene.publish(times=2)
    body = await answer(scene.client, teapot)
    assert items(body) == [
        (str(cups), 2, "bought_together"),
        (str(tray), 1, "bought_together"),
    ]
    assert body["fallback"] is False


async def test_an_order_republished_under_a_new_message_id_counts_once(scene: Scene) -> None:
    teapot, cups = scene.shop.create(), scene.shop.create()
    scene.shop.order(teapot, cups)
    await scene.publish()
    line = OrderLine(product_id=cups, sku="SKU", name="x", quantity=1, unit_price=Money(amount=1))
    order_id = uuid.UUID(scene.shop.orders[0]["id"])
    again = OrderConfirmed(
        order_id=order_id,
        user_id=uuid.uuid4(),
        lines=[line.model_copy(update={"product_id": teapot}), line],
        total=Money(amount=2),
    )
    scene.shop.events.append(again)
    await scene.publish()
    assert items(await answer(scene.client, teapot)) == [(str(cups), 1, "bought_together")]


async def test_a_product_no_catalog_event_announced_is_not_found(scene: Scene) -> None:
    response = await scene.client.get(f"/api/recommendations/products/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


async def test_without_order_history_same_category_products_are_the_marked_fallback(
    scene: Scene,
) -> None:
    teapot = scene.shop.create("tea", "kitchen")
    kettle = scene.shop.create("kitchen", "tea")
    cups = scene.shop.create("tea")
    scene.shop.create("garden")
    await scene.publish()
    body = await answer(scene.client, teapot)
    assert items(body) == [
        (str(kettle), 2, "same_category"),
        (str(cups), 1, "same_category"),
    ]
    assert body["fallback"] is True


async def test_a_deleted_product_is_no_longer_recommended_nor_found(scene: Scene) -> None:
    teapot, cups, tray = scene.shop.create("tea"), scene.shop.create("tea"), scene.shop.create()
    scene.shop.order(teapot, cups, tray)
    await scene.publish()
    scene.shop.delete(cups)
    await scene.publish(times=2)
    assert items(await answer(scene.client, teapot)) == [(str(tray), 1, "bought_together")]
    response = await scene.client.get(f"/api/recommendations/products/{cups}")
    assert response.status_code == 404


async def test_a_recategorized_product_moves_to_its_new_category(scene: Scene) -> None:
    teapot, spade = scene.shop.create("tea"), scene.shop.create("garden")
    await scene.publish()
    scene.shop.recategorize(spade, "tea")
    await scene.publish()
    assert items(await answer(scene.client, teapot)) == [(str(spade), 1, "same_category")]


@pytest.mark.parametrize("limit", ["0", "21", "many"])
async def test_a_limit_outside_1_to_20_is_a_problem(scene: Scene, limit: str) -> None:
    teapot = scene.shop.create()
    await scene.publish()
    response = await scene.client.get(
        f"/api/recommendations/products/{teapot}", params={"limit": limit}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_limit_bounds_how_many_come_back_best_first(scene: Scene) -> None:
    hub = scene.shop.create()
    others = [scene.shop.create() for _ in range(7)]
    for count, other in enumerate(others, start=1):
        for _ in range(count):
            scene.shop.order(hub, other)
    await scene.publish()
    default = await answer(scene.client, hub, limit=5)
    assert [item[0] for item in items(default)] == [str(p) for p in others[::-1][:5]]
    response = await scene.client.get(f"/api/recommendations/products/{hub}")
    assert len(response.json()["items"]) == 5


async def test_an_answer_read_before_an_order_changes_as_soon_as_the_order_is_applied(
    scene: Scene,
) -> None:
    teapot, cups, kettle = scene.shop.create("tea"), scene.shop.create("tea"), scene.shop.create()
    await scene.publish()
    before = await answer(scene.client, teapot)
    assert items(before) == [(str(cups), 1, "same_category")]
    assert await answer(scene.client, teapot) == before  # now kept in the read model
    scene.shop.order(teapot, kettle)
    await scene.publish()
    assert items(await answer(scene.client, teapot)) == [
        (str(kettle), 1, "bought_together"),
        (str(cups), 1, "same_category"),
    ]


@pytest.mark.parametrize("store", ["sql", "redis"])
async def test_a_replica_that_did_not_apply_an_event_still_answers_with_it(
    tmp_path: Path, broker_url: str, store: str
) -> None:
    """Two replicas on one store: one consumes each event; the other's kept
    answers are cleared by hearing the event (its listener), not by its TTL."""
    namespace = unique_namespace()
    settings = settings_for(store, read_model_ttl=LONG_TTL)
    var_dir = tmp_path / "var"  # one var dir: the SQL replicas share one SQLite file
    shop = Shop()
    teapot, cups = shop.create("tea"), shop.create()
    async with (
        running_recommendations(var_dir, broker_url, namespace, settings) as first,
        running_recommendations(var_dir, broker_url, namespace, settings) as second,
    ):
        await deliver_and_wait(broker_url, namespace, shop.events)
        shop.events.clear()
        for replica in (first, second):
            assert items(await answer(replica, teapot)) == []
        shop.order(teapot, cups)
        await deliver_and_wait(broker_url, namespace, shop.events)
        expected = [(str(cups), 1, "bought_together")]
        for replica in (first, second):

            async def answered(client: httpx.AsyncClient = replica) -> list[tuple[str, int, str]]:
                return items(await answer(client, teapot))

            await eventually_async(
                answered, lambda found: found == expected, timeout=10, message="replica answers"
            )
