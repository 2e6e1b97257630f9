"""A fake catalog on a real loopback HTTP server, and an in-process cart to test against."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from prometheus_client import REGISTRY

from emporium.chassis.messaging import encode, make_transport
from emporium.chassis.testing import TokenFactory
from emporium.contracts import Message
from emporium.launcher.nats import free_port
from emporium.services.cart.main import create_app
from emporium.services.cart.settings import CartSettings
from tests._poll import eventually_async
from tests._servers import REDIS_URL, require_server
from tests.integration._services import chassis_settings, running


@dataclass
class FakeCatalog:
    """Serves ``GET /api/catalog/products/{id}`` from :attr:`products`.

    ``failing`` makes it answer 503, ``hits`` counts requests, so "the breaker
    stopped calling" is checked by what arrived, not by timing.
    """

    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing: bool = False
    hits: Counter[str] = field(default_factory=Counter)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, name: str = "Teapot", amount: int = 1999, currency: str = "USD") -> uuid.UUID:
        product_id = uuid.uuid4()
        self.products[str(product_id)] = {
            "id": str(product_id),
            "sku": f"SKU-{product_id.hex[:8].upper()}",
            "name": name,
            "description": "",
            "price": {"amount": amount, "currency": currency},
            "categories": [],
            "image_url": f"/api/catalog/products/{product_id}/image",
        }
        return product_id

    async def _product(self, request: web.Request) -> web.Response:
        product_id = request.match_info["product_id"]
        self.hits[product_id] += 1
        if self.failing:
            return web.json_response({"status": 503}, status=503)
        product = self.products.get(product_id)
        if product is None:
            return web.json_response({"status": 404, "detail": "no such product"}, status=404)
        return web.json_response(product)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeCatalog]:
        app = web.Application()
        app.router.add_get("/api/catalog/products/{product_id}", self._product)
        runner = web.AppRunner(app)
        await runner.setup()
        self.port = self.port or free_port()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        try:
            yield self
        finally:
            await runner.cleanup()


@dataclass
class Cart:
    client: httpx.AsyncClient
    tokens: TokenFactory
    catalog: FakeCatalog

    def as_user(self, user_id: uuid.UUID) -> dict[str, str]:
        return self.tokens.headers(user_id)


def cart_settings(store: str, catalog_url: str) -> CartSettings:
    if store == "redis":
        return CartSettings(
            store="redis",
            redis_url=require_server(REDIS_URL, "Redis"),
            redis_prefix=f"test:{uuid.uuid4().hex}",
            catalog_url=catalog_url,
        )
    return CartSettings(store="sql", catalog_url=catalog_url)


@asynccontextmanager
async def running_cart(
    var_dir: Path, broker_url: str, namespace: str, store: str, catalog: FakeCatalog
) -> AsyncIterator[Cart]:
    tokens = TokenFactory()
    settings = cart_settings(store, catalog.url)
    async with running(
        lambda chassis: create_app(chassis, settings, auth=tokens.verifier()),
        chassis_settings(var_dir, broker_url, namespace),
    ) as client:
        yield Cart(client, tokens, catalog)


async def deliver(broker_url: str, namespace: str, message: Message, *, times: int) -> None:
    """Publish ``message`` ``times`` times, each past the broker's deduplication."""
    transport = make_transport(broker_url, namespace=namespace)
    await transport.connect()
    try:
        envelope = encode(message, namespace=namespace)
        for _ in range(times):
            await transport.publish(replace(envelope, dedup_id=str(uuid.uuid4())))
    finally:
        await transport.close()


def handled(message_type: type[Message]) -> float:
    """Deliveries of ``message_type`` the cart consumer has finished (applied or duplicate)."""
    consumer = {"consumer": f"cart.{message_type.type}"}
    return sum(
        REGISTRY.get_sample_value(f"emporium_messages_{outcome}_total", consumer) or 0.0
        for outcome in ("consumed", "duplicate")
    )


async def deliver_and_wait(
    broker_url: str, namespace: str, message: Message, *, times: int, within: float = 15
) -> None:
    """:func:`deliver`, then wait until the cart has finished every copy."""
    target = handled(type(message)) + times
    await deliver(broker_url, namespace, message, times=times)

    async def finished() -> float:
        return handled(type(message))

    await eventually_async(
        finished,
        lambda count: count >= target,
        timeout=within,
        message=f"cart did not finish {times} {message.type}",
    )
