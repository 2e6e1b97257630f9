"""An in-process recommendations service on a real broker and store, a fake of the
upstream APIs its backfill reads, and a shop history to feed either way."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from aiohttp import web
from prometheus_client import REGISTRY

from emporium.chassis import Database
from emporium.contracts import Message, Money
from emporium.contracts.catalog import ProductCreated, ProductDeleted, ProductUpdated
from emporium.contracts.orders import OrderConfirmed, OrderLine
from emporium.launcher.nats import free_port
from emporium.services.recommendations.main import create_app
from emporium.services.recommendations.repository import RecommendationStore
from emporium.services.recommendations.settings import RecommendationsSettings
from emporium.services.recommendations.stores import make_store
from tests._servers import REDIS_URL, require_server
from tests.integration._cart_fakes import deliver
from tests.integration._services import chassis_settings, running

ADMIN_EMAIL = "admin@emporium.local"
ADMIN_PASSWORD = "recommendations-test-admin"


def settings_for(store: str, **overrides: Any) -> RecommendationsSettings:
    values: dict[str, Any] = {"backfill_on_start": False, "admin_password": ADMIN_PASSWORD}
    if store == "redis":
        values |= {
            "store": "redis",
            "redis_url": require_server(REDIS_URL, "Redis"),
            "redis_prefix": f"test:{uuid.uuid4().hex}",
        }
    else:
        values["store"] = "sql"
    return RecommendationsSettings(**(values | overrides))


@asynccontextmanager
async def running_recommendations(
    var_dir: Path, broker_url: str, namespace: str, settings: RecommendationsSettings
) -> AsyncIterator[httpx.AsyncClient]:
    async with running(
        lambda chassis: create_app(chassis, settings),
        chassis_settings(var_dir, broker_url, namespace),
    ) as client:
        yield client


@asynccontextmanager
async def opened_store(
    settings: RecommendationsSettings, var_dir: Path
) -> AsyncIterator[RecommendationStore]:
    """The store an instance with ``settings`` and ``var_dir`` uses, opened beside it."""
    database = Database(settings.resolved_database_url("recommendations", var_dir))
    store = make_store(settings, database)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()
        await database.dispose()


def handled(message_type: type[Message]) -> float:
    """Deliveries of ``message_type`` recommendations has finished (applied or duplicate)."""
    consumer = {"consumer": f"recommendations.{message_type.type}"}
    return sum(
        REGISTRY.get_sample_value(f"emporium_messages_{outcome}_total", consumer) or 0.0
        for outcome in ("consumed", "duplicate")
    )


async def deliver_and_wait(
    broker_url: str, namespace: str, messages: Iterable[Message], *, times: int = 1
) -> None:
    """Publish each message ``times`` times (past broker dedup), in order, and wait
    until the service has finished every copy of each before the next."""
    for message in messages:
        target = handled(type(message)) + times
        await deliver(broker_url, namespace, message, times=times)
        deadline = asyncio.get_running_loop().time() + 15
        while handled(type(message)) < target:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"recommendations did not finish {message.type} in 15 s")
            await asyncio.sleep(0.02)


async def answer(client: httpx.AsyncClient, product_id: UUID, limit: int = 20) -> Any:
    response = await client.get(
        f"/api/recommendations/products/{product_id}", params={"limit": limit}
    )
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class Shop:
    """A history of catalog changes and orders, kept as events (for a live
    instance) and as the upstream APIs would list it now (for a backfill)."""

    events: list[Message] = field(default_factory=list)
    products: dict[UUID, list[str]] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)

    def create(self, *categories: str) -> UUID:
        product_id = uuid.uuid4()
        sku = f"SKU-{product_id.hex[:8]}"
        self.events.append(
            ProductCreated(
                product_id=product_id,
                sku=sku,
                name=sku,
                price=Money(amount=1000),
                categories=list(categories),
            )
        )
        self.products[product_id] = list(categories)
        return product_id

    def recategorize(self, product_id: UUID, *categories: str) -> None:
        sku = f"SKU-{product_id.hex[:8]}"
        self.events.append(
            ProductUpdated(product_id=product_id, sku=sku, name=sku, categories=list(categories))
        )
        self.products[product_id] = list(categories)

    def delete(self, product_id: UUID) -> None:
        self.events.append(ProductDeleted(product_id=product_id, sku=f"SKU-{product_id.hex[:8]}"))
        del self.products[product_id]

    def order(
        self, *product_ids: UUID, history: tuple[str, ...] = ("PENDING", "CONFIRMED")
    ) -> None:
        """An order whose status went through ``history``; its OrderConfirmed is an
        event only if it was ever CONFIRMED."""
        order_id, user_id = uuid.uuid4(), uuid.uuid4()
        lines = [
            OrderLine(
                product_id=p,
                sku=f"SKU-{p.hex[:8]}",
                name="x",
                quantity=1,
                unit_price=Money(amount=1000),
            )
            for p in product_ids
        ]
        if "CONFIRMED" in history:
            total = Money(amount=1000 * len(lines))
            self.events.append(
                OrderConfirmed(order_id=order_id, user_id=user_id, lines=lines, total=total)
            )
        self.orders.insert(  # the orders API lists newest first
            0,
            {
                "id": str(order_id),
                "user_id": str(user_id),
                "status": history[-1],
                "items": [{"product_id": str(p), "quantity": 1} for p in product_ids],
                "history": [{"status": status} for status in history],
            },
        )

    def catalog_listing(self) -> list[dict[str, Any]]:
        return [
            {"id": str(p), "name": f"SKU-{p.hex[:8]}", "categories": c}
            for p, c in sorted(self.products.items(), key=lambda item: str(item[0]))
        ]


@dataclass
class FakeUpstreams:
    """Identity's token, catalog's product list and orders' admin list, on one
    loopback server (as the gateway would serve them), from a :class:`Shop`."""

    shop: Shop
    port: int = 0
    failing_orders: int = 0
    expiring_tokens: int = 0
    refused_logins: int = 0
    logins: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (body.get("email"), body.get("password")) != (ADMIN_EMAIL, ADMIN_PASSWORD):
            self.refused_logins += 1
            return web.json_response({"status": 401}, status=401)
        self.logins += 1
        return web.json_response({"access_token": "admin-token", "token_type": "bearer"})

    @staticmethod
    def _page(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        limit, offset = int(request.query["limit"]), int(request.query["offset"])
        return web.json_response({"items": items[offset : offset + limit], "total": len(items)})

    async def _products(self, request: web.Request) -> web.Response:
        return self._page(request, self.shop.catalog_listing())

    async def _orders(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer admin-token":
            return web.json_response({"status": 401}, status=401)
        if self.expiring_tokens > 0:
            self.expiring_tokens -= 1  # as if the token had just expired
            return web.json_response({"status": 401}, status=401)
        if request.query.get("scope") != "all":
            return web.json_response({"items": [], "total": 0})
        if self.failing_orders > 0:
            self.failing_orders -= 1
            return web.json_response({"status": 503}, status=503)
        return self._page(request, self.shop.orders)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeUpstreams]:
        app = web.Application()
        app.router.add_post("/api/identity/token", self._token)
        app.router.add_get("/api/catalog/products", self._products)
        app.router.add_get("/api/orders", self._orders)
        runner = web.AppRunner(app)
        await runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        try:
            yield self
        finally:
            await runner.cleanup()
