"""Choosing an instance, and ejecting the ones that fail (passive outlier detection).

The choice is least outstanding requests across available instances (healthy
and not ejected), ties broken round-robin so an idle service still spreads
sequential requests evenly. Ejection takes an instance out of the choice for
``ejection_seconds``: at once on a connection failure, or after a run of
``consecutive_5xx`` server errors. The clock is injected so tests need no sleeps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence

from emporium.services.gateway.metrics import EJECTIONS
from emporium.services.gateway.registry import Instance

__all__ = ["Balancer"]

logger = logging.getLogger(__name__)

CONNECT = "connect"
SERVER_ERRORS = "5xx"


class Balancer:
    """Picks instances and keeps their outlier state; one per gateway process."""

    def __init__(
        self,
        *,
        ejection_seconds: float = 5.0,
        consecutive_5xx: int = 5,
        slow_checks_down: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ejection_seconds = ejection_seconds
        self.consecutive_5xx = consecutive_5xx
        self.slow_checks_down = slow_checks_down
        self.clock = clock
        self._turn: dict[str, int] = {}

    def pick(
        self, service: str, instances: Sequence[Instance], exclude: Collection[Instance] = ()
    ) -> Instance | None:
        """The available instance with the fewest requests in flight, or None."""
        now = self.clock()
        count = len(instances)
        if count == 0:
            return None
        turn = self._turn.get(service, 0)
        self._turn[service] = turn + 1
        best: Instance | None = None
        for offset in range(count):
            candidate = instances[(turn + offset) % count]
            if not candidate.available(now) or candidate in exclude:
                continue
            if best is None or candidate.in_flight < best.in_flight:
                best = candidate
        return best

    def connection_failed(self, instance: Instance) -> None:
        instance.failures += 1
        self._eject(instance, CONNECT)

    def responded(self, instance: Instance, status: int) -> None:
        if status < 500:
            instance.consecutive_5xx = 0
            return
        if status == 503:
            # A deliberate "not now" (identity shedding password hashes, a
            # dependency down): ejecting the instance would turn shed load
            # into an outage. Its health check decides whether it serves.
            return
        instance.failures += 1
        instance.consecutive_5xx += 1
        if instance.consecutive_5xx >= self.consecutive_5xx:
            instance.consecutive_5xx = 0
            self._eject(instance, SERVER_ERRORS)

    def health_checked(
        self, instance: Instance, ready: bool, started: float, *, slow: bool = False
    ) -> None:
        """Record a health check that was sent at ``started`` (on this clock).

        A check that timed out (``slow``) marks a serving instance down only after
        ``slow_checks_down`` in a row: a busy instance answers its health check
        late because it is queued behind the requests it is serving, and taking
        it out of rotation would turn load into 503s. A refused connection or an
        explicit 503 (starting, draining, store down) takes it out at once.
        """
        instance.slow_checks = instance.slow_checks + 1 if slow else 0
        if slow and instance.healthy and instance.slow_checks < self.slow_checks_down:
            return
        instance.healthy = ready
        instance.checked = True
        instance.served = instance.served or ready
        # A connection failure that a later passing check contradicts was a blip;
        # a run of 5xx is invisible to /health/ready, so it serves its time.
        if ready and instance.ejected_by == CONNECT and started >= instance.ejected_at:
            instance.ejected_until = 0.0
            instance.ejected_by = ""

    def _eject(self, instance: Instance, reason: str) -> None:
        now = self.clock()
        if instance.ejected_until <= now:
            EJECTIONS.labels(instance.service, instance.name, reason).inc()
            logger.warning(
                "ejecting %s (%s) for %.1fs: %s",
                instance.name,
                instance.url,
                self.ejection_seconds,
                reason,
            )
        instance.ejected_at = now
        instance.ejected_until = now + self.ejection_seconds
        instance.ejected_by = reason
