"""The checkout saga in-process: orders on a real store and broker, participants simulated."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emporium.chassis import Database
from emporium.chassis.testing import TokenFactory
from emporium.contracts import inventory as inv
from emporium.contracts import payments as pay
from emporium.contracts.orders import OrderCancelled, OrderConfirmed
from emporium.launcher.nats import EmbeddedNats
from tests.integration._orders_fakes import (
    DECLINED_CARD,
    FakeUpstreams,
    Participants,
    running_orders,
)
from tests.integration._services import unique_namespace


@pytest.fixture
async def upstreams() -> AsyncIterator[FakeUpstreams]:
    async with FakeUpstreams().serving() as fake:
        yield fake


@pytest.fixture
def namespace() -> str:
    return unique_namespace()


@pytest.fixture
def participants(tmp_path: Path, namespace: str) -> Participants:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'participants.db'}")
    return Participants(database, namespace)


@pytest.fixture
def nats_url(embedded_nats: EmbeddedNats) -> str:
    return embedded_nats.url


async def test_happy_path_confirms_the_order_on_both_brokers(
    broker_url: str,
    var_dir: Path,
    namespace: str,
    upstreams: FakeUpstreams,
    participants: Participants,
) -> None:
    tokens = TokenFactory()
    user = tokens.headers(uuid.uuid4())
    upstreams.fill_cart(user, ("SKU-A", 2, 1999), ("SKU-B", 1, 450))
    async with (
        participants.running(broker_url),
        running_orders(var_dir, broker_url, namespace, upstreams, tokens) as orders,
    ):
        placed = await orders.place(user)
        assert placed.status_code == 202, placed.text
        body = placed.json()
        assert (body["status"], body["items_total"]["amount"], body["total"]["amount"]) == (
            "PENDING",
            4448,
            4948,
        )
        assert body["payment"] == {"brand": "visa", "last4": "4242"}
        confirmed = await orders.wait_for(body["id"], user, "CONFIRMED")
        assert [h["status"] for h in confirmed["history"]] == ["PENDING", "CONFIRMED"]
        order_id = uuid.UUID(body["id"])
        authorize = next(c for c in participants.received if isinstance(c, pay.AuthorizePayment))
        assert (authorize.amount.amount, authorize.user_id) == (4948, uuid.UUID(body["user_id"]))
        assert participants.count(inv.CommitStock, order_id) == 1
        assert participants.count(pay.CapturePayment, order_id) == 1


async def test_out_of_stock_cancels_without_ever_asking_for_payment(
    nats_url: str,
    var_dir: Path,
    namespace: str,
    upstreams: FakeUpstreams,
    participants: Participants,
) -> None:
    tokens = TokenFactory()
    user = tokens.headers(uuid.uuid4())
    upstreams.fill_cart(user, ("SKU-GONE", 1, 1000))
    participants.reject_skus.add("SKU-GONE")
    async with (
        participants.running(nats_url),
        running_orders(var_dir, nats_url, namespace, upstreams, tokens) as orders,
    ):
        order_id = (await orders.place(user)).json()["id"]
        cancelled = await orders.wait_for(order_id, user, "CANCELLED")
        assert cancelled["reason"] == "OUT_OF_STOCK"
        assert participants.count(pay.AuthorizePayment, uuid.UUID(order_id)) == 0


async def test_declined_payment_releases_stock_and_cancels(
    nats_url: str,
    var_dir: Path,
    namespace: str,
    upstreams: FakeUpstreams,
    participants: Participants,
) -> None:
    tokens = TokenFactory()
    user = tokens.headers(uuid.uuid4())
    upstreams.fill_cart(user, ("SKU-A", 1, 1000))
    async with (
        participants.running(nats_url),
        running_orders(var_dir, nats_url, namespace, upstreams, tokens) as orders,
    ):
        order_id = (await orders.place(user, card=DECLINED_CARD)).json()["id"]
        cancelled = await orders.wait_for(order_id, user, "CANCELLED")
        assert cancelled["reason"] == "PAYMENT_DECLINED"
        await participants.eventually(inv.ReleaseStock, uuid.UUID(order_id))
        assert participants.count(pay.CapturePayment, uuid.UUID(order_id)) == 0


async def test_silent_participant_times_out_with_compensation(
    nats_url: str,
    var_dir: Path,
    namespace: str,
    upstreams: FakeUpstreams,
    participants: Participants,
) -> None:
    tokens = TokenFactory()
    user = tokens.headers(uuid.uuid4())
    upstreams.fill_cart(user, ("SKU-A", 1, 1000))
    participants.silent.add(pay.AuthorizePayment.type)
    async with (
        participants.running(nats_url),
        running_orders(var_dir, nats_url, namespace, upstreams, tokens, step_timeout=1.0) as orders,
    ):
        order_id = (await orders.place(user)).json()["id"]
        cancelled = await orders.wait_for(order_id, user, "CANCELLED")
        assert cancelled["reason"] == "TIMEOUT"
        oid = uuid.UUID(order_id)
        await participants.eventually(pay.VoidPayment, oid)
        await participants.eventually(inv.ReleaseStock, oid)
        await participants.eventually(OrderCancelled, oid)


async def test_every_reply_delivered_twice_has_one_effect(
    nats_url: str,
    var_dir: Path,
    namespace: str,
    upstreams: FakeUpstreams,
    participants: Participants,
) -> None:
    tokens = TokenFactory()
    user = tokens.headers(uuid.uuid4())
    upstreams.fill_cart(user, ("SKU-A", 1, 1000))
    participants.twice = True
    async with (
        participants.running(nats_url),
        running_orders(var_dir, nats_url, namespace, upstreams, tokens) as orders,
    ):
        order_id = (await orders.place(user)).json()["id"]
        confirmed = await orders.wait_for(order_id, user, "CONFIRMED")
        oid = uuid.UUID(order_id)
        await participants.eventually(OrderConfirmed, oid)
        # Let the copies drain through orders before counting what it sent.
        await orders.wait_for(order_id, user, "CONFIRMED")
        await _settle()
        for command in (pay.AuthorizePayment, pay.CapturePayment, inv.CommitStock):
            assert participants.count(command, oid) == 1, command.type
        assert participants.count(OrderConfirmed, oid) == 1
        assert [h["status"] for h in confirmed["history"]] == ["PENDING", "CONFIRMED"]


async def test_orders_stopped_mid_saga_finishes_after_restart(
    broker_url: str,
    var_dir: Path,
    namespace: str,
    upstreams: FakeUpstreams,
    participants: Participants,
) -> None:
    tokens = TokenFactory()
    user = tokens.headers(uuid.uuid4())
    upstreams.fill_cart(user, ("SKU-A", 3, 700))
    participants.hold.add(inv.ReserveStock.type)
    async with participants.running(broker_url):
        async with running_orders(var_dir, broker_url, namespace, upstreams, tokens) as orders:
            order_id = uuid.UUID((await orders.place(user)).json()["id"])
            await participants.eventually(inv.ReserveStock, order_id)
        # Orders is down: inventory answers now; the broker keeps the answer.
        reserve = next(c for c in participants.received if isinstance(c, inv.ReserveStock))
        participants.hold.clear()
        await participants.reply(inv.StockReserved(order_id=order_id, lines=reserve.lines))
        async with running_orders(var_dir, broker_url, namespace, upstreams, tokens) as orders:
            confirmed = await orders.wait_for(str(order_id), user, "CONFIRMED")
            assert confirmed["total"]["amount"] == 3 * 700 + 500


async def _settle(seconds: float = 1.0) -> None:
    await asyncio.sleep(seconds)
