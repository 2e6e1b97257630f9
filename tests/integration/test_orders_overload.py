"""Checkout under overload, in-process: what is refused was never created.

A forced limit of one checkout in progress, and a saga backlog of one, stand
in for a saturated system; cart reads are held open by the test, so "in
progress" is a fact the test controls, not a matter of timing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emporium.chassis import Database
from emporium.chassis.overload import BUDGET, BUDGET_PATH
from emporium.chassis.testing import TokenFactory
from emporium.contracts import payments as pay
from emporium.launcher.nats import EmbeddedNats
from tests._poll import eventually_async
from tests.integration._orders_fakes import FakeUpstreams, Orders, Participants, running_orders
from tests.integration._services import unique_namespace


@pytest.fixture
async def upstreams() -> AsyncIterator[FakeUpstreams]:
    async with FakeUpstreams().serving() as fake:
        yield fake


@pytest.fixture
async def participants(tmp_path: Path, embedded_nats: EmbeddedNats) -> AsyncIterator[Participants]:
    namespace = unique_namespace()
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'participants.db'}")
    participants = Participants(database, namespace)
    participants.hold.add(pay.CapturePayment.type)  # sagas stay PENDING
    async with participants.running(embedded_nats.url):
        yield participants


def customer(orders: Orders) -> dict[str, str]:
    headers = orders.tokens.headers(uuid.uuid4())
    orders.upstreams.fill_cart(headers, ("SKU-A", 1, 1000))
    return headers


async def all_orders(orders: Orders) -> int:
    admin = orders.tokens.headers(uuid.uuid4(), role="admin")
    listed = await orders.client.get("/api/orders", params={"scope": "all"}, headers=admin)
    total: int = listed.json()["total"]
    return total


async def test_checkouts_over_the_limit_are_503_with_retry_after_and_create_nothing(
    var_dir: Path,
    embedded_nats: EmbeddedNats,
    upstreams: FakeUpstreams,
    participants: Participants,
) -> None:
    upstreams.cart_gate = asyncio.Event()
    async with running_orders(
        var_dir,
        embedded_nats.url,
        participants.namespace,
        upstreams,
        TokenFactory(),
        chassis={"overload_max_limit": 1},
    ) as orders:
        admitted = asyncio.create_task(orders.place(customer(orders)))

        async def cart_reads() -> int:
            return upstreams.hits["cart"]

        # The first checkout is now in progress, reading the cart.
        await eventually_async(cart_reads, timeout=10, interval=0.01, message="never read")
        refused_users = [customer(orders) for _ in range(3)]
        refused = [await orders.place(user) for user in refused_users]
        assert [r.status_code for r in refused] == [503, 503, 503]
        for response in refused:
            assert response.headers["Retry-After"] == "1"
            assert response.headers["content-type"] == "application/problem+json"
        assert upstreams.hits["cart"] == 1  # refused before any upstream was asked
        upstreams.cart_gate.set()
        assert (await admitted).status_code == 202
        for user in refused_users:
            mine = (await orders.client.get("/api/orders", headers=user)).json()
            assert mine["total"] == 0
        assert await all_orders(orders) == 1
        # The limit guards checkout only: reads still answer.
        health = await orders.client.get("/health/ready")
        assert health.status_code == 200


async def test_a_full_saga_backlog_is_503_and_creates_nothing(
    var_dir: Path,
    embedded_nats: EmbeddedNats,
    upstreams: FakeUpstreams,
    participants: Participants,
) -> None:
    async with running_orders(
        var_dir,
        embedded_nats.url,
        participants.namespace,
        upstreams,
        TokenFactory(),
        saga_admission_min_pending=1,
    ) as orders:
        first = await orders.place(customer(orders))
        assert first.status_code == 202
        late = customer(orders)
        refused = await orders.place(late)
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        assert "no order was created" in refused.json()["detail"]
        assert (await orders.client.get("/api/orders", headers=late)).json()["total"] == 0
        assert await all_orders(orders) == 1
        # Marked and reported, so the gateway refuses for orders until there is room.
        assert refused.headers[BUDGET] == "saga-backlog"
        report = (await orders.client.get(BUDGET_PATH)).json()
        assert report == {"POST /api/orders": {"free": 0, "retry_after": 1}}
