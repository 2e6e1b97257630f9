"""Admission against a :class:`GradientLimit`: a request gets a ticket or is refused.

Never queued: a request over the limit is refused at once (the caller answers
503), since a queue in front of a saturated service only adds waiting to the
latency it already has.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from emporium.chassis.overload._limit import GradientLimit, LimitSettings

__all__ = ["AdaptiveLimiter", "Ticket"]


class Ticket:
    """Leave for one request; hand it back exactly once with :meth:`release`."""

    __slots__ = ("_limiter", "_released", "started")

    def __init__(self, limiter: AdaptiveLimiter, started: float) -> None:
        self._limiter = limiter
        self.started = started
        self._released = False

    def release(self, *, dropped: bool = False, measured: bool = True) -> None:
        """The request ended. ``dropped``: it ran out of time or was shed further in.
        ``measured=False``: its latency says nothing about the work (it was cancelled)."""
        if self._released:
            return
        self._released = True
        self._limiter._finish(self, dropped=dropped, measured=measured)


class AdaptiveLimiter:
    """Counts requests in progress and admits them up to the adaptive limit.

    ``on_change(limit, in_flight)`` is called whenever either moves (metrics).
    """

    def __init__(
        self,
        settings: LimitSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[int, int], None] | None = None,
    ) -> None:
        self.clock = clock
        self.gradient = GradientLimit(settings, clock=clock)
        self.in_flight = 0
        self.rejected = 0
        self._on_change = on_change
        self._changed()

    @property
    def limit(self) -> int:
        return self.gradient.limit

    def try_acquire(self) -> Ticket | None:
        """A ticket if a request may start now, else None (refuse it)."""
        if self.in_flight >= self.gradient.limit:
            self.rejected += 1
            return None
        self.in_flight += 1
        self._changed()
        return Ticket(self, self.clock())

    def _finish(self, ticket: Ticket, *, dropped: bool, measured: bool) -> None:
        if measured or dropped:
            latency = self.clock() - ticket.started
            self.gradient.sample(latency, self.in_flight, dropped=dropped)
        self.in_flight -= 1
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.gradient.limit, self.in_flight)
