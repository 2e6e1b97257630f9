"""Refusing at the edge for a service that reports a budget (decision 0021).

A service marks a refusal made against a budget of its own with
``X-Emporium-Budget`` and reports what is left at ``GET /internal/admission``
(:mod:`emporium.chassis.overload`). Once the gateway has seen the marker on a
route (method and exact path), it keeps that route's budget here:

- *closed* (the service refused, or the last report said nothing is free):
  every request is refused at once with 503 and the reported ``Retry-After``,
  and an instance's report is read again every ``poll_interval`` s;
- *open* with ``free`` left: that many requests go through, each spending one;
  when none is left the budget closes again and the polling resumes;
- forgotten: an open budget older than ``ttl`` s, or a report that fails or
  no longer names the route. Requests then go through and the service decides,
  as before it ever refused; its next refusal starts the budget again.

The service's own check stays the authority. The gateway can only refuse
more than the service would for a moment (a report a poll interval old), and
let through no more than a report said was free, so a gateway's refusal is what
the service would have answered, without the hop to it and without waiting on
its event loop behind the work that filled the budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from emporium.chassis.overload import BUDGET_PATH
from emporium.services.gateway.balancer import Balancer
from emporium.services.gateway.registry import Upstreams

__all__ = ["Budgets"]

logger = logging.getLogger(__name__)

Route = tuple[str, str, str]  # service, method, exact path


@dataclass(slots=True)
class _Budget:
    free: int = 0  # 0: closed
    retry_after: int = 1
    opened_at: float = 0.0
    poller: asyncio.Task[None] | None = field(default=None, repr=False)


class Budgets:
    """The budgets of routes whose service refused against one; a component."""

    def __init__(
        self,
        upstreams: Upstreams,
        balancer: Balancer,
        session: Callable[[], aiohttp.ClientSession],
        *,
        poll_interval: float,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstreams = upstreams
        self.balancer = balancer
        self.session = session
        self.poll_interval = poll_interval
        self.ttl = ttl
        self.clock = clock
        self.tracked: dict[Route, _Budget] = {}
        self._timeout = aiohttp.ClientTimeout(total=max(poll_interval, 0.25))

    def take(self, route: Route) -> int | None:
        """None to let the request through (spending one), else seconds to retry after."""
        budget = self.tracked.get(route)
        if budget is None:
            return None
        if budget.free == 0:
            if budget.poller is None or budget.poller.done():
                self._forget(route)  # nobody is asking any more: the service decides
                return None
            return budget.retry_after
        if self.clock() - budget.opened_at > self.ttl:
            self._forget(route)
            return None
        budget.free -= 1
        if budget.free == 0:
            self._poll(route, budget)
        return None

    def refused(self, route: Route) -> None:
        """The service refused a request on ``route`` against its budget: closed."""
        budget = self.tracked.get(route)
        if budget is None:
            budget = self.tracked[route] = _Budget()
        budget.free = 0
        self._poll(route, budget)

    def _poll(self, route: Route, budget: _Budget) -> None:
        if budget.poller is None or budget.poller.done():
            budget.poller = asyncio.get_running_loop().create_task(
                self._asking(route, budget), name=f"budget {route[1]} {route[2]}"
            )

    async def _asking(self, route: Route, budget: _Budget) -> None:
        try:
            await self._until_open(route, budget)
        except Exception:  # never left refusing with nobody asking: fail open
            logger.exception("budget of %s %s: reading it failed", route[1], route[2])
            self._forget(route)

    async def _until_open(self, route: Route, budget: _Budget) -> None:
        service, method, path = route
        key = f"{method} {path}"
        while self.tracked.get(route) is budget and budget.free == 0:
            await asyncio.sleep(self.poll_interval)
            report = await self._read(service)
            entry = report.get(key) if report is not None else None
            if not isinstance(entry, dict):
                # No report, or the route is no longer budgeted: the service decides.
                self._forget(route)
                return
            try:
                free, retry_after = int(entry["free"]), int(entry["retry_after"])
            except (KeyError, TypeError, ValueError):
                self._forget(route)
                return
            budget.retry_after = max(1, retry_after)
            if free > 0:
                budget.free, budget.opened_at = free, self.clock()

    async def _read(self, service: str) -> dict[str, object] | None:
        instances = self.upstreams.get(service)
        instance = self.balancer.pick(service, instances) if instances else None
        if instance is None:
            return None
        try:
            async with self.session().get(
                instance.url + BUDGET_PATH, timeout=self._timeout, allow_redirects=False
            ) as response:
                if response.status != 200:
                    return None
                report = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.debug("%s: no budget report: %r", instance.name, exc)
            return None
        return report if isinstance(report, dict) else None

    def _forget(self, route: Route) -> None:
        budget = self.tracked.pop(route, None)
        poller = budget.poller if budget is not None else None
        if poller is not None and poller is not asyncio.current_task():
            poller.cancel()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for route in list(self.tracked):
            self._forget(route)

    async def ready(self) -> bool:
        return True
