"""The gateway's budgets fail open: never left refusing with nobody asking the service."""

from __future__ import annotations

import asyncio

import aiohttp

from emporium.services.gateway.balancer import Balancer
from emporium.services.gateway.budgets import Budgets
from emporium.services.gateway.registry import InstanceSpec, Upstreams

ROUTE = ("orders", "POST", "/api/orders")


def _budgets(broken: Exception) -> Budgets:
    """Budgets whose every reading of a report raises ``broken``."""
    upstreams = Upstreams()
    upstreams.update([InstanceSpec("orders", "orders-1", "http://127.0.0.1:9")])
    for instance in upstreams.all():
        instance.healthy = True

    def session() -> aiohttp.ClientSession:
        raise broken

    return Budgets(upstreams, Balancer(), session, poll_interval=0.01, ttl=1.0)


async def test_a_budget_whose_reading_breaks_is_forgotten_and_requests_go_through() -> None:
    budgets = _budgets(RuntimeError("the gateway proxy is not started"))
    budgets.refused(ROUTE)
    assert budgets.take(ROUTE) == 1  # closed while its first reading is under way
    for _ in range(100):
        await asyncio.sleep(0.01)
        if ROUTE not in budgets.tracked:
            break
    assert ROUTE not in budgets.tracked
    assert budgets.take(ROUTE) is None
    await budgets.stop()
