"""The chassis' admission middleware: deadlines for every route, limits for some.

For each HTTP request (probes, scrapes and ``/internal/`` excepted, which are
never shed nor timed):

1. the caller's remaining time (``X-Emporium-Deadline-Ms``) becomes the
   request's deadline in :mod:`emporium.chassis.deadline`; already spent: 504 at
   once, nothing done;
2. if the service named a *partition* for the request (``partition(scope)``,
   e.g. ``"checkout"`` for ``POST /api/orders``), the partition's
   :class:`AdaptiveLimiter` must admit it; over the limit: 503 with
   ``Retry-After`` at once, nothing done, nothing queued;
3. the request runs under a timer set to the deadline; if it fires before the
   response started, the work is cancelled and the answer is 504 (work under
   :func:`emporium.chassis.deadline.finishing` is not cancelled).

The limiter learns from each admitted request's latency. A 503 or 504 answered
from further in (the upstream shed it, a saga backlog, a deadline) counts as
*dropped*, which backs the limit off: at the gateway this moves the refusals
of a saturated service to the edge, where they cost least. A 503 marked
:data:`~emporium.chassis.problems.UPSTREAM_DOWN` is neither a drop nor a
sample: it was answered at once because a dependency's circuit is open, which
says nothing about this service's capacity; shrinking the limit for it would
only go on refusing the service's traffic after the dependency is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emporium.chassis import deadline
from emporium.chassis.overload._limit import LimitSettings
from emporium.chassis.overload._limiter import AdaptiveLimiter
from emporium.chassis.overload._metrics import IN_FLIGHT, LIMIT, REJECTED
from emporium.chassis.problems import UPSTREAM_DOWN, problem_response

__all__ = ["EXEMPT_PREFIXES", "AdmissionMiddleware", "Partition", "routes"]

logger = logging.getLogger(__name__)

# What must answer however loaded the service is: balancers and Prometheus ask these.
EXEMPT_PREFIXES = ("/health/", "/metrics", "/internal/")
# Refused requests may come back after this many seconds.
RETRY_AFTER = "1"
_UPSTREAM_DOWN = UPSTREAM_DOWN.encode()

Partition = Callable[[Scope], str | None]


def routes(table: Mapping[str, str]) -> Partition:
    """A partition function from ``{"POST /api/orders": "checkout"}`` (exact paths)."""
    keyed = {tuple(key.split(" ", 1)): name for key, name in table.items()}

    def partition(scope: Scope) -> str | None:
        return keyed.get((scope["method"], scope["path"]))

    return partition


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class AdmissionMiddleware:
    """Deadlines and adaptive concurrency limits (see the module); pure ASGI."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        partition: Partition | None = None,
        limits: LimitSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.service = service
        self.partition = partition
        self.limits = limits or LimitSettings()
        self.clock = clock
        self.limiters: dict[str, AdaptiveLimiter] = {}

    def limiter(self, name: str) -> AdaptiveLimiter:
        """The partition's limiter, made on first use."""
        found = self.limiters.get(name)
        if found is None:
            limit_gauge = LIMIT.labels(self.service, name)
            in_flight_gauge = IN_FLIGHT.labels(self.service, name)

            def export(limit: int, in_flight: int) -> None:
                limit_gauge.set(limit)
                in_flight_gauge.set(in_flight)

            found = self.limiters[name] = AdaptiveLimiter(
                self.limits, clock=self.clock, on_change=export
            )
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        name = self.partition(scope) if self.partition is not None else None
        left = deadline.parse_remaining(_header(scope, deadline.HEADER.encode()))
        if left is not None and left <= 0:
            REJECTED.labels(self.service, name or "", "deadline").inc()
            response = problem_response(
                504, "The caller's deadline passed before this request started", instance=path
            )
            await response(scope, receive, send)
            return
        ticket = None
        if name is not None:
            ticket = self.limiter(name).try_acquire()
            if ticket is None:
                REJECTED.labels(self.service, name, "limit").inc()
                response = problem_response(
                    503,
                    f"{self.service} is at capacity ({name}) and refused the request "
                    "before doing anything; try again shortly",
                    instance=path,
                    headers={"Retry-After": RETRY_AFTER},
                )
                await response(scope, receive, send)
                return
        state: dict[str, Any] = {"status": 500, "started": False, "upstream_down": False}

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["started"] = True
                if message["status"] == 503:
                    state["upstream_down"] = any(
                        key.lower() == _UPSTREAM_DOWN for key, _ in message.get("headers", ())
                    )
            await send(message)

        try:
            await self._run(scope, receive, tracking_send, left, state)
        finally:
            if ticket is not None:
                if state["upstream_down"]:
                    ticket.release(measured=False)
                else:
                    ticket.release(dropped=int(state["status"]) in (503, 504))

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        left: float | None,
        state: dict[str, Any],
    ) -> None:
        if left is None:
            await self.app(scope, receive, send)
            return
        due = deadline.current.set(self.clock() + left)
        loop = asyncio.get_running_loop()
        timer = asyncio.timeout_at(loop.time() + left)
        armed = deadline.timer.set(timer)
        try:
            async with timer:
                await self.app(scope, receive, send)
        except TimeoutError:
            if not timer.expired():
                raise  # the app's own timeout, not ours
            path: str = scope["path"]
            logger.warning("%s %s: deadline passed while handling", scope["method"], path)
            if not state["started"]:
                response = problem_response(
                    504, "The caller's deadline passed before the answer was ready", instance=path
                )
                await response(scope, receive, send)
            # Started: the response stays incomplete and the server cuts it.
        finally:
            deadline.timer.reset(armed)
            deadline.current.reset(due)
