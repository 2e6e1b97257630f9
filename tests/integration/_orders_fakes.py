"""Fakes for the orders integration tests.

- :class:`FakeUpstreams`: cart, shipping quotes and card tokenization on one real
  loopback aiohttp server (``down`` makes a service answer 503). Tokenization
  judges the card by payments' own rules and refuses it with payments' problem
  shape, so orders is tested against the verdicts it will really relay.
- :class:`Participants`: inventory and payments simulated by a handler table on
  a real Messaging (same broker and namespace as orders, its own store): they
  answer the saga's commands, record every command they receive (once per
  message id), and can be told to decline, reject, stay silent, hold an answer
  for later, or deliver every answer twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from emporium.chassis import Database, UnitOfWork
from emporium.chassis.messaging import Backoff, Messaging, encode
from emporium.chassis.testing import TokenFactory
from emporium.contracts import Message, Money
from emporium.contracts import inventory as inv
from emporium.contracts import payments as pay
from emporium.contracts.orders import OrderCancelled, OrderConfirmed
from emporium.launcher.nats import free_port
from emporium.services.orders.main import create_app
from emporium.services.orders.settings import OrdersSettings
from emporium.services.payments.domain import Card, CardError
from tests._poll import eventually_async
from tests.integration._services import chassis_settings, running

GOOD_CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
DECLINED_CARD = {**GOOD_CARD, "number": "4000000000000002"}
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


@dataclass
class FakeUpstreams:
    carts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by bearer token
    down: set[str] = field(default_factory=set)
    refused_cards: set[str] = field(default_factory=set)
    shipping_amount: int = 500
    hits: Counter[str] = field(default_factory=Counter)
    port: int = 0
    # Set: cart reads wait for it (keeps a checkout in flight).
    cart_gate: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fill_cart(self, headers: dict[str, str], *lines: tuple[str, int, int]) -> None:
        """Lines of (sku, quantity, unit price) in the cart of the token in ``headers``."""
        self.carts[headers["Authorization"]] = [
            {
                "product_id": str(uuid.uuid4()),
                "sku": sku,
                "name": f"Product {sku}",
                "quantity": quantity,
                "unit_price": {"amount": price, "currency": "USD"},
                "line_total": {"amount": price * quantity, "currency": "USD"},
                "available": True,
            }
            for sku, quantity, price in lines
        ]

    def _unavailable(self, service: str) -> web.Response | None:
        self.hits[service] += 1
        if service in self.down:
            return web.json_response({"status": 503}, status=503)
        return None

    async def _cart(self, request: web.Request) -> web.Response:
        if (refusal := self._unavailable("cart")) is not None:
            return refusal
        if self.cart_gate is not None:
            await self.cart_gate.wait()
        items = self.carts.get(request.headers.get("Authorization", ""), [])
        total = sum(item["line_total"]["amount"] for item in items)
        body = {"items": items, "total": {"amount": total, "currency": "USD"}}
        return web.json_response({**body, "checkout_ready": bool(items)})

    async def _quote(self, request: web.Request) -> web.Response:
        if (refusal := self._unavailable("shipping")) is not None:
            return refusal
        body = await request.json()
        assert body["country"]
        assert body["items"]
        amount = {"amount": self.shipping_amount, "currency": "USD"}
        return web.json_response({"amount": amount, "carrier": "Fake Post", "eta_days": 3})

    async def _tokenize(self, request: web.Request) -> web.Response:
        if (refusal := self._unavailable("payments")) is not None:
            return refusal
        card = await request.json()
        if card["number"] in self.refused_cards:
            return web.json_response({"status": 422, "detail": "card refused"}, status=422)
        try:
            Card(card["number"], card["exp_month"], card["exp_year"], card["cvc"]).validate(
                datetime.now(UTC).date()
            )
        except CardError as exc:
            error = {"loc": ["body", exc.field], "msg": str(exc), "type": "card_invalid"}
            problem = {"status": 422, "detail": f"The card was refused: {exc}", "errors": [error]}
            return web.json_response(problem, status=422)
        token = f"tok_{card['number'][-4:]}_{uuid.uuid4().hex[:8]}"
        body = {"card_token": token, "brand": "visa", "last4": card["number"][-4:]}
        return web.json_response(
            {**body, "exp_month": card["exp_month"], "exp_year": card["exp_year"]}, status=201
        )

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeUpstreams]:
        app = web.Application()
        app.router.add_get("/api/cart", self._cart)
        app.router.add_post("/api/shipping/quotes", self._quote)
        app.router.add_post("/api/payments/cards", self._tokenize)
        runner = web.AppRunner(app)
        await runner.setup()
        self.port = free_port()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        try:
            yield self
        finally:
            await runner.cleanup()


@dataclass
class Participants:
    """Inventory and payments, as far as the saga can tell."""

    database: Database
    namespace: str
    reject_skus: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)  # command types left unanswered
    hold: set[str] = field(default_factory=set)  # command types answered by the test
    twice: bool = False
    received: list[Message] = field(default_factory=list)
    messaging: Messaging | None = None

    def count(self, kind: type[Message], order_id: uuid.UUID) -> int:
        """How many ``kind`` messages for ``order_id`` arrived (each id once: the inbox)."""
        return sum(
            1
            for message in self.received
            if isinstance(message, kind) and getattr(message, "order_id", None) == order_id
        )

    async def eventually(
        self, kind: type[Message], order_id: uuid.UUID, within: float = 10.0
    ) -> None:
        async def arrived() -> int:
            return self.count(kind, order_id)

        await eventually_async(
            arrived, timeout=within, message=f"no {kind.__name__} for {order_id}"
        )

    async def reply(self, message: Message) -> None:
        assert self.messaging is not None
        async with self.database.unit_of_work() as uow:
            await self.messaging.outbox.add(uow.session, message)
            await uow.commit()

    def handlers(self) -> dict[type[Message], Callable[[Any, UnitOfWork], Awaitable[None]]]:
        async def answer(command: Any, uow: UnitOfWork) -> None:
            self.received.append(command)
            if command.type in self.silent or command.type in self.hold:
                return
            for reply in self._answers(command):
                await self._send(uow, reply)

        async def observe(event: Any, _uow: UnitOfWork) -> None:
            self.received.append(event)

        commands: list[type[Message]] = [
            inv.ReserveStock,
            inv.CommitStock,
            inv.ReleaseStock,
            pay.AuthorizePayment,
            pay.CapturePayment,
            pay.VoidPayment,
            pay.RefundPayment,
        ]
        table: dict[type[Message], Callable[[Any, UnitOfWork], Awaitable[None]]] = dict.fromkeys(
            commands, answer
        )
        table.update({OrderConfirmed: observe, OrderCancelled: observe})
        return table

    def _answers(self, command: Message) -> list[Message]:
        match command:
            case inv.ReserveStock(order_id=order_id, lines=lines):
                unavailable = [line.sku for line in lines if line.sku in self.reject_skus]
                if unavailable:
                    reason = "OUT_OF_STOCK"
                    return [
                        inv.StockRejected(order_id=order_id, reason=reason, unavailable=unavailable)
                    ]
                return [inv.StockReserved(order_id=order_id, lines=lines)]
            case inv.CommitStock(order_id=order_id):
                return [inv.StockCommitted(order_id=order_id)]
            case pay.AuthorizePayment(order_id=order_id, amount=amount, card_token=token):
                if token.startswith("tok_0002"):
                    return [pay.PaymentDeclined(order_id=order_id, reason="card_declined")]
                return [
                    pay.PaymentAuthorized(order_id=order_id, payment_id=uuid.uuid4(), amount=amount)
                ]
            case pay.CapturePayment(order_id=order_id):
                return [pay.PaymentCaptured(order_id=order_id, amount=Money(amount=1))]
        return []

    async def _send(self, uow: UnitOfWork, reply: Message) -> None:
        assert self.messaging is not None
        await self.messaging.outbox.add(uow.session, reply)
        if self.twice:
            # The same answer again under a new id (a participant answering twice) ...
            await self.messaging.outbox.add(
                uow.session, reply.model_copy(update={"id": uuid.uuid4()})
            )
            # ... and the very same message redelivered past the broker's deduplication.
            envelope = encode(reply, namespace=self.namespace)
            await self.messaging.transport.publish(replace(envelope, dedup_id=str(uuid.uuid4())))

    @asynccontextmanager
    async def running(self, broker_url: str) -> AsyncIterator[Participants]:
        await self.database.create_all()
        self.messaging = Messaging(
            broker_url,
            service="participants",
            database=self.database,
            handlers=self.handlers(),
            namespace=self.namespace,
            retry_backoff=Backoff(0.05, 0.2),
            poll_interval=0.1,
        )
        await self.messaging.start()
        try:
            yield self
        finally:
            await self.messaging.stop()
            await self.database.dispose()


@dataclass
class Orders:
    client: httpx.AsyncClient
    tokens: TokenFactory
    upstreams: FakeUpstreams

    async def place(
        self, headers: dict[str, str], *, key: str | None = None, card: dict[str, Any] = GOOD_CARD
    ) -> httpx.Response:
        body = {"shipping_address": ADDRESS, "payment": card}
        return await self.client.post(
            "/api/orders",
            json=body,
            headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())},
        )

    async def wait_for(
        self, order_id: str, headers: dict[str, str], status: str, within: float = 15.0
    ) -> dict[str, Any]:
        async def order() -> dict[str, Any]:
            found: dict[str, Any] = (
                await self.client.get(f"/api/orders/{order_id}", headers=headers)
            ).json()
            return found

        return await eventually_async(
            order,
            lambda found: found.get("status") == status,
            timeout=within,
            message=f"order {order_id} never became {status}",
        )


@asynccontextmanager
async def running_orders(
    var_dir: Path,
    broker_url: str,
    namespace: str,
    upstreams: FakeUpstreams,
    tokens: TokenFactory,
    *,
    step_timeout: float = 30.0,
    chassis: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[Orders]:
    """Orders on ``upstreams``; ``chassis`` and ``overrides`` replace chassis and
    orders settings (``{"overload_max_limit": 1}``, ``saga_admission_min_pending=1``)."""
    settings = OrdersSettings(
        cart_url=upstreams.url,
        shipping_url=upstreams.url,
        payments_url=upstreams.url,
        saga_step_timeout_seconds=step_timeout,
        sweep_interval_seconds=0.1,
        **overrides,
    )
    base = chassis_settings(var_dir, broker_url, namespace)
    async with running(
        lambda chassis: create_app(chassis, settings, auth=tokens.verifier()),
        base.model_copy(update=chassis or {}),
    ) as client:
        yield Orders(client, tokens, upstreams)
