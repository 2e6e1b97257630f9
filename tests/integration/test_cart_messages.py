"""Catalog's and orders' events reach cart through the real broker; each delivered
twice still has one effect, on both stores and both brokers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from emporium.contracts import Money
from emporium.contracts.catalog import PriceChanged, ProductDeleted
from emporium.contracts.orders import OrderConfirmed, OrderLine
from tests.integration._cart_fakes import Cart, FakeCatalog, deliver_and_wait, running_cart
from tests.integration._services import unique_namespace


class Scene:
    def __init__(self, cart: Cart, broker_url: str, namespace: str) -> None:
        self.cart = cart
        self.broker_url = broker_url
        self.namespace = namespace
        self.user_id = uuid.uuid4()
        self.user = cart.as_user(self.user_id)

    async def put(self, product: uuid.UUID, quantity: int) -> None:
        response = await self.cart.client.put(
            f"/api/cart/items/{product}", json={"quantity": quantity}, headers=self.user
        )
        assert response.status_code == 200, response.text

    async def body(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.cart.client.get("/api/cart", headers=self.user)).json()
        return body

    async def deliver(
        self, message: PriceChanged | ProductDeleted | OrderConfirmed, times: int
    ) -> None:
        await deliver_and_wait(self.broker_url, self.namespace, message, times=times)


@pytest.fixture(params=["sql", "redis"])
async def scene(
    request: pytest.FixtureRequest, tmp_path: Path, broker_url: str
) -> AsyncIterator[Scene]:
    namespace = unique_namespace()
    async with (
        FakeCatalog().serving() as catalog,
        running_cart(tmp_path / "var", broker_url, namespace, request.param, catalog) as cart,
    ):
        yield Scene(cart, broker_url, namespace)


async def test_price_changed_twice_reprices_the_lines_once(scene: Scene) -> None:
    product, other = scene.cart.catalog.add("Kettle", 3000), scene.cart.catalog.add("Tray", 700)
    await scene.put(product, 2)
    await scene.put(other, 1)
    event = PriceChanged(
        product_id=product, sku="SKU-K", old_price=Money(amount=3000), new_price=Money(amount=2500)
    )
    await scene.deliver(event, times=2)
    body = await scene.body()
    assert body["items"][0]["unit_price"] == {"amount": 2500, "currency": "USD"}
    assert body["items"][0]["line_total"] == {"amount": 5000, "currency": "USD"}
    assert body["total"] == {"amount": 5700, "currency": "USD"}


async def test_an_older_price_change_arriving_late_is_ignored(scene: Scene) -> None:
    product = scene.cart.catalog.add("Kettle", 3000)
    await scene.put(product, 1)
    newer = PriceChanged(
        product_id=product, sku="SKU-K", old_price=Money(amount=2800), new_price=Money(amount=2500)
    )
    older = PriceChanged(
        product_id=product,
        sku="SKU-K",
        old_price=Money(amount=3000),
        new_price=Money(amount=2800),
        occurred_at=newer.occurred_at - timedelta(seconds=30),
    )
    await scene.deliver(newer, times=1)
    await scene.deliver(older, times=1)
    assert (await scene.body())["total"] == {"amount": 2500, "currency": "USD"}


async def test_product_deleted_twice_flags_the_line_and_blocks_checkout(scene: Scene) -> None:
    product, other = scene.cart.catalog.add("Vase", 1200), scene.cart.catalog.add("Rug", 100)
    await scene.put(product, 1)
    await scene.put(other, 1)
    await scene.deliver(ProductDeleted(product_id=product, sku="SKU-V"), times=2)
    body = await scene.body()
    assert [i["available"] for i in body["items"]] == [False, True]
    assert body["checkout_ready"] is False
    assert body["total"] == {"amount": 1300, "currency": "USD"}


async def test_order_confirmed_twice_takes_the_ordered_lines_out_once(scene: Scene) -> None:
    bought, later = scene.cart.catalog.add("Bowl", 900), scene.cart.catalog.add("Spoon", 50)
    await scene.put(bought, 2)
    confirmed = OrderConfirmed(
        order_id=uuid.uuid4(),
        user_id=scene.user_id,
        lines=[
            OrderLine(
                product_id=bought,
                sku="SKU-B",
                name="Bowl",
                quantity=2,
                unit_price=Money(amount=900),
            )
        ],
        total=Money(amount=1800),
    )
    await scene.deliver(confirmed, times=1)
    assert (await scene.body())["items"] == []

    # The bowl goes back in, with a spoon; the redelivered confirmation takes neither.
    await scene.put(bought, 1)
    await scene.put(later, 3)
    await scene.deliver(confirmed, times=1)
    body = await scene.body()
    assert [(i["product_id"], i["quantity"]) for i in body["items"]] == [
        (str(bought), 1),
        (str(later), 3),
    ]


async def test_order_confirmed_leaves_products_added_during_checkout(scene: Scene) -> None:
    bought, added_meanwhile = scene.cart.catalog.add("Bowl", 900), scene.cart.catalog.add()
    await scene.put(bought, 1)
    await scene.put(added_meanwhile, 1)
    line = OrderLine(
        product_id=bought, sku="SKU-B", name="Bowl", quantity=1, unit_price=Money(amount=900)
    )
    confirmed = OrderConfirmed(
        order_id=uuid.uuid4(), user_id=scene.user_id, lines=[line], total=Money(amount=900)
    )
    await scene.deliver(confirmed, times=1)
    assert [i["product_id"] for i in (await scene.body())["items"]] == [str(added_meanwhile)]
