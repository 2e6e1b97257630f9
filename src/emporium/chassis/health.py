"""Liveness and readiness.

``/health/live`` answers 200 while the process runs. ``/health/ready`` answers
200 only when every gating check passes (the store reachable, the service's
components ready) and the process is not draining; otherwise 503 with the
failing checks named, so the gateway, the launcher and Kubernetes stop sending
it traffic. Some checks are reported without gating: the broker's, because a
service without its broker still serves reads and takes writes (their events
wait in the outbox), and taking every instance out of rotation during a broker
outage would turn a delay into an outage. A reported-only check also gets a
short time budget: the gateway's health check waits about a second for the
answer, and a broker check hanging on a reconnecting client must not make
every instance look down at once (seen the moment a stopped broker came back).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["Health", "ReadinessCheck"]

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]


class Health:
    """Holds the readiness checks and the draining flag of one process."""

    def __init__(
        self,
        checks: Mapping[str, ReadinessCheck],
        *,
        timeout: float = 1.0,
        reported_timeout: float = 0.25,
    ) -> None:
        self.checks = dict(checks)
        self.reported_only: set[str] = set()  # checks shown in the answer, never gating it
        self.timeout = timeout
        self.reported_timeout = min(reported_timeout, timeout)
        self.started = False
        self.draining = False

    async def _run(self, name: str, check: ReadinessCheck) -> tuple[str, bool]:
        budget = self.reported_timeout if name in self.reported_only else self.timeout
        try:
            return name, bool(await asyncio.wait_for(check(), budget))
        except Exception as exc:
            logger.warning("readiness check %s failed: %s", name, exc)
            return name, False

    async def live(self, _request: Request) -> JSONResponse:
        return JSONResponse({"status": "live"})

    def add(self, name: str, check: ReadinessCheck, *, gating: bool = True) -> None:
        self.checks[name] = check
        if not gating:
            self.reported_only.add(name)

    async def ready(self, _request: Request) -> JSONResponse:
        results = dict(await asyncio.gather(*(self._run(n, c) for n, c in self.checks.items())))
        gating = (ok for name, ok in results.items() if name not in self.reported_only)
        ok = self.started and not self.draining and all(gating)
        status = "ready" if ok else ("draining" if self.draining else "not-ready")
        return JSONResponse({"status": status, "checks": results}, status_code=200 if ok else 503)
