"""A fake Emporium API on a real loopback server, and the storefront in-process in front of it.

The storefront reaches it through the chassis client exactly as it reaches the
gateway (``internal_url``), so timeouts, breakers and headers are the real ones.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from emporium.chassis import ChassisSettings
from emporium.launcher.nats import free_port
from emporium.services.storefront.main import create_app
from emporium.services.storefront.session import SessionCodec
from emporium.services.storefront.settings import StorefrontSettings
from tests.integration._messaging_support import unreachable_broker

KEY = "test-session-key-" + "x" * 32
PASSWORD = "right password"
USER = {"id": str(uuid.uuid4()), "email": "ada@example.test", "name": "Ada", "role": "customer"}


def product(name: str, sku: str) -> dict[str, Any]:
    product_id = str(uuid.uuid4())
    return {
        "id": product_id,
        "sku": sku,
        "name": name,
        "description": f"A very good {name.lower()}.",
        "price": {"amount": 3900, "currency": "USD"},
        "categories": ["kitchen"],
        "image_url": f"/api/catalog/products/{product_id}/image",
    }


@dataclass
class FakeApi:
    """The public API the storefront calls. ``failing`` services answer 503;
    ``hits`` counts requests per route; ``refreshes`` the refresh tokens spent."""

    skillet: dict[str, Any] = field(default_factory=lambda: product("Skillet", "KIT-001"))
    knife: dict[str, Any] = field(default_factory=lambda: product("Knife", "KIT-002"))
    failing: set[str] = field(default_factory=set)
    hits: Counter[str] = field(default_factory=Counter)
    refreshes: list[str] = field(default_factory=list)
    orders: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # (field, message) orders answers with a 422 for the next checkouts, if set.
    card_refusal: tuple[str, str] | None = None
    cart_lines: list[dict[str, Any]] = field(default_factory=list)
    stock: int = 3
    refresh_status: int = 200
    role: str = "customer"
    sagas: list[dict[str, Any]] = field(default_factory=list)  # orders' admin saga list
    retried: list[str] = field(default_factory=list)  # order ids POSTed to .../retry
    order_status: str = "PENDING"  # what GET /api/orders/{id} answers
    order_reads: list[dict[str, str]] = field(default_factory=list)  # its query and deadline
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def products(self) -> dict[str, dict[str, Any]]:
        return {p["id"]: p for p in (self.skillet, self.knife)}

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        service = request.path.split("/")[2]
        self.hits[f"{request.method} {request.path}"] += 1
        if service in self.failing:
            return web.json_response({"status": 503}, status=503)
        response: web.StreamResponse = await handler(request)
        return response

    async def _categories(self, _request: web.Request) -> web.Response:
        return web.json_response([{"slug": "kitchen", "name": "Kitchen"}])

    async def _products(self, request: web.Request) -> web.Response:
        items = list(self.products().values())
        ids = request.query.getall("ids", [])
        if ids:
            items = [item for item in items if item["id"] in ids]
        return web.json_response({"items": items, "total": len(items)})

    async def _product(self, request: web.Request) -> web.Response:
        found = self.products().get(request.match_info["id"])
        if found is None:
            return web.json_response({"status": 404}, status=404)
        return web.json_response(found)

    async def _stock(self, request: web.Request) -> web.Response:
        return web.json_response({"sku": request.match_info["sku"], "available": self.stock})

    async def _recommendations(self, _request: web.Request) -> web.Response:
        item = {"product_id": self.knife["id"], "score": 2, "reason": "bought_together"}
        return web.json_response({"items": [item]})

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("password") != PASSWORD:
            return web.json_response({"status": 401}, status=401)
        return self._tokens()

    def _tokens(self) -> web.Response:
        access, refresh = f"access-{uuid.uuid4().hex}", f"refresh-{uuid.uuid4().hex}"
        return web.json_response(
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": 900,
                "refresh_token": refresh,
            }
        )

    async def _refresh(self, request: web.Request) -> web.Response:
        self.refreshes.append((await request.json())["refresh_token"])
        if self.refresh_status != 200:
            return web.json_response({"status": self.refresh_status}, status=self.refresh_status)
        return self._tokens()

    async def _me(self, _request: web.Request) -> web.Response:
        return web.json_response({**USER, "role": self.role})

    async def _instances(self, _request: web.Request) -> web.Response:
        return web.json_response({"instances": []})

    async def _sagas(self, _request: web.Request) -> web.Response:
        return web.json_response({"items": self.sagas, "total": len(self.sagas)})

    async def _retry(self, request: web.Request) -> web.Response:
        self.retried.append(request.match_info["order_id"])
        return web.json_response({"status": "PENDING"})

    async def _cart(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer access-"):
            return web.json_response({"status": 401}, status=401)
        total = sum(line["line_total"]["amount"] for line in self.cart_lines)
        return web.json_response(
            {
                "items": self.cart_lines,
                "total": {"amount": total, "currency": "USD"},
                "checkout_ready": bool(self.cart_lines),
            }
        )

    async def _quote(self, _request: web.Request) -> web.Response:
        amount = {"amount": 697, "currency": "USD"}
        return web.json_response(
            {
                "amount": amount,
                "carrier": "Emporium Post",
                "eta_days": 3,
                "country": "US",
                "zone": "domestic",
            }
        )

    async def _place_order(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.card_refusal is not None:
            # What orders answers when payments refuses the card: the field and
            # payments' words for it, no order.
            field, message = self.card_refusal
            problem = {
                "status": 422,
                "title": "Invalid card",
                "detail": message,
                "errors": [{"loc": ["body", "payment", field], "msg": message, "type": "card"}],
            }
            return web.json_response(problem, status=422, content_type="application/problem+json")
        self.orders.append((request.headers.get("Idempotency-Key", ""), body))
        return web.json_response({"id": str(uuid.uuid4()), "status": "PENDING"}, status=202)

    async def _order(self, request: web.Request) -> web.Response:
        read = dict(request.query)
        read["deadline_ms"] = request.headers.get("x-emporium-deadline-ms", "")
        self.order_reads.append(read)
        order = {
            "id": request.match_info["order_id"],
            "status": self.order_status,
            "reason": "",
            "history": [{"status": "PENDING", "at": "2026-11-29T12:00:00Z", "reason": ""}],
            "tracking_number": "TRK-1" if self.order_status == "SHIPPED" else "",
        }
        return web.json_response(order)

    def fill_cart(self) -> None:
        price = self.skillet["price"]
        self.cart_lines = [
            {
                "product_id": self.skillet["id"],
                "sku": self.skillet["sku"],
                "name": self.skillet["name"],
                "quantity": 1,
                "unit_price": price,
                "line_total": price,
                "available": True,
            }
        ]

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeApi]:
        app = web.Application(middlewares=[self._faults])
        app.router.add_get("/api/catalog/categories", self._categories)
        app.router.add_get("/api/catalog/products", self._products)
        app.router.add_get("/api/catalog/products/{id}", self._product)
        app.router.add_get("/api/inventory/items/{sku}", self._stock)
        app.router.add_get("/api/recommendations/products/{id}", self._recommendations)
        app.router.add_post("/api/identity/token", self._token)
        app.router.add_post("/api/identity/token/refresh", self._refresh)
        app.router.add_get("/api/identity/me", self._me)
        app.router.add_get("/api/cart", self._cart)
        app.router.add_post("/api/shipping/quotes", self._quote)
        app.router.add_post("/api/orders", self._place_order)
        app.router.add_get("/api/gateway/instances", self._instances)
        app.router.add_get("/api/orders/admin/sagas", self._sagas)
        app.router.add_get("/api/orders/{order_id}", self._order)
        app.router.add_post("/api/orders/admin/sagas/{order_id}/retry", self._retry)
        runner = web.AppRunner(app)
        await runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        try:
            yield self
        finally:
            await runner.cleanup()


@asynccontextmanager
async def storefront(
    api: FakeApi,
    var_dir: Path,
    *,
    broker_url: str | None = None,
    namespace: str = "emporium",
    product_cache_seconds: float = 5.0,
) -> AsyncIterator[httpx.AsyncClient]:
    """The storefront app's lifespan, with an HTTP client that keeps its cookies.

    Without ``broker_url`` its broker is a port nobody listens on: it never
    hears catalog's events, so it keeps no product and every page asks the
    fake API (and it never reaches the machine's own NATS on 4222).
    """
    chassis = ChassisSettings(
        var_dir=var_dir,
        internal_url=api.url,
        broker_url=broker_url or unreachable_broker(),
        broker_namespace=namespace,
    )
    settings = StorefrontSettings(
        session_key=KEY, api_timeout_seconds=1.0, product_cache_seconds=product_cache_seconds
    )
    app = create_app(chassis, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield client


def codec() -> SessionCodec:
    return SessionCodec([KEY], StorefrontSettings().session_max_age_seconds)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_IDEMPOTENCY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def idempotency_key(html: str) -> str:
    found = _IDEMPOTENCY.search(html)
    assert found, "the checkout form has no Idempotency-Key"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient) -> None:
    form = await client.get("/account/signin")
    answer = await client.post(
        "/account/signin",
        data={"csrf_token": csrf_token(form.text), "email": USER["email"], "password": PASSWORD},
    )
    assert answer.status_code == 303, answer.text
