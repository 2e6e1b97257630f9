"""The gateway refuses for a service that reports a budget, over real sockets.

The upstream is a small ASGI app served by uvicorn in the test's loop, so the
test sets what it answers and counts what reached it: checkouts refused
against its budget (503 + ``X-Emporium-Budget``), and its report at
``GET /internal/admission``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from emporium.chassis.overload import BUDGET, BUDGET_PATH
from tests._poll import eventually_async
from tests.integration.test_gateway import DEADLINE, Gateway, running_gateway, write_registry

ROUTE = "POST /api/orders"


@dataclass
class Orders:
    """What the fake orders answers; ``checkouts`` and ``reports`` count what reached it."""

    full: bool = True
    free: int = 0
    report_fails: bool = False
    checkouts: int = 0
    reports: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = f"{scope['method']} {scope['path']}"
        headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
        status, body = 200, {}
        if route == ROUTE:
            self.checkouts += 1
            status = 503 if self.full else 202
            if self.full:
                headers += [(BUDGET.encode(), b"saga-backlog"), (b"retry-after", b"1")]
        elif route == f"GET {BUDGET_PATH}":
            self.reports += 1
            if self.report_fails:
                status = 500
            else:
                body = {ROUTE: {"free": self.free, "retry_after": 4}}
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually_async(
            lambda: asyncio.sleep(0, server.started), timeout=DEADLINE, message="never served"
        )
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, DEADLINE)
        sock.close()


async def checkout(gateway: Gateway) -> tuple[int, str, dict[str, Any]]:
    signed_in = gateway.tokens.headers()
    async with gateway.session.post(
        f"{gateway.url}/api/orders", json={}, headers=signed_in
    ) as response:
        body = await response.json(content_type=None)
        return response.status, response.headers.get("Retry-After", ""), body


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Orders]]:
    orders = Orders()
    async with serving(orders) as url:
        entry = {"service": "orders", "instance": "orders-1", "url": url, "pid": 0}
        write_registry(tmp_path / "registry.json", 1, [entry])
        overrides: dict[str, Any] = {
            "budget_poll_interval": 0.02,
            "budget_ttl": 0.5,
            # Not the adaptive limit's refusals: this test is about the budget's.
            "checkout_burst": 1000,
        }
        async with running_gateway(tmp_path, **overrides) as gateway:
            await gateway.wait_healthy("orders-1")
            yield gateway, orders


async def reports_read(orders: Orders, more_than: int) -> None:
    async def read() -> int:
        return orders.reports

    await eventually_async(
        read, lambda n: n > more_than, timeout=DEADLINE, message="the report was never read"
    )


async def accepted(gateway: Gateway) -> None:
    await eventually_async(
        lambda: checkout(gateway),
        lambda answer: answer[0] == 202,
        timeout=DEADLINE,
        message="the gateway never let a checkout through again",
    )


async def test_after_a_budget_refusal_the_gateway_refuses_for_the_service_until_it_has_room(
    shop: tuple[Gateway, Orders],
) -> None:
    gateway, orders = shop
    assert (await checkout(gateway))[0] == 503  # orders' own refusal, marked
    assert orders.checkouts == 1

    status, _, problem = await eventually_async(
        lambda: checkout(gateway),
        lambda answer: answer[1] == "4",  # the Retry-After the report gave, once read
        timeout=DEADLINE,
        message="the gateway never refused with the report's Retry-After",
    )
    assert status == 503
    assert "refused the request on its behalf" in problem["detail"]
    assert orders.checkouts == 1  # none was forwarded meanwhile
    signed_in = gateway.tokens.headers()
    async with gateway.session.get(f"{gateway.url}/api/orders", headers=signed_in) as other:
        assert other.status == 200  # only the budgeted route is refused

    orders.full, orders.free = False, 2
    await accepted(gateway)  # once the gateway has read the room: one of two spent
    orders.free = 0  # the gateway lets through what the report said, no more
    assert [(await checkout(gateway))[0] for _ in range(2)] == [202, 503]
    assert orders.checkouts == 3


async def test_a_failed_report_gives_the_decision_back_to_the_service(
    shop: tuple[Gateway, Orders],
) -> None:
    gateway, orders = shop
    assert (await checkout(gateway))[0] == 503
    await reports_read(orders, 0)
    assert (await checkout(gateway))[0] == 503
    assert orders.checkouts == 1

    orders.full, orders.report_fails = False, True

    async def forwarded() -> int:
        await checkout(gateway)
        return orders.checkouts

    await eventually_async(
        forwarded, lambda n: n > 1, timeout=DEADLINE, message="the gateway never forwarded again"
    )
    reads = orders.reports
    await asyncio.sleep(0.2)
    assert orders.reports == reads  # forgotten: no more polling


async def test_an_open_budget_is_forgotten_after_its_ttl(shop: tuple[Gateway, Orders]) -> None:
    gateway, orders = shop
    assert (await checkout(gateway))[0] == 503
    orders.full, orders.free = False, 2
    await accepted(gateway)  # one of two spent: the budget stays open
    orders.free = 0
    await asyncio.sleep(0.6)  # past budget_ttl: an old report is not trusted
    assert [(await checkout(gateway))[0] for _ in range(2)] == [202, 202]
    assert orders.checkouts == 4
