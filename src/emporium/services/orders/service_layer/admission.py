"""Saga admission: accept an order only if its saga can finish well within its deadline.

A ``202`` promises that the order will be confirmed or refused on its merits,
never cancelled because the system was too busy to get to it (``TIMEOUT``).
The sagas already running are a queue in front of inventory, payments and
orders' own consumers, and by Little's law it drains in about
``pending / throughput`` seconds. So checkout is admitted only while

    pending < max(min_pending, throughput * budget)

``pending`` is the number of orders still ``PENDING`` (every instance's: it is
read from the store), ``throughput`` the rate at which sagas finished lately,
and ``budget`` how long a new saga may expect to wait, a fraction of the step
deadline. An order refused here was never created: checkout answers 503 with
``Retry-After`` before it reads the cart or writes anything.

``min_pending`` lets an idle system (throughput unknown) start; the estimate is
refreshed from the store every fraction of a second (:meth:`observe`), and each
order admitted in between counts at once (:meth:`admitted`), so a burst cannot
slip through between two refreshes.
"""

from __future__ import annotations

import math

__all__ = ["SagaBacklog", "SagaBacklogFullError"]


class SagaBacklogFullError(Exception):
    """Too many sagas are running to finish one more in time; nothing was created."""

    def __init__(self, pending: int, allowed: int, retry_after: int) -> None:
        super().__init__(f"{pending} orders are being processed (at most {allowed} now)")
        self.pending, self.allowed, self.retry_after = pending, allowed, retry_after


class SagaBacklog:
    """The admission rule above, fed by the store (pure; no I/O, no clock)."""

    def __init__(self, *, budget: float, min_pending: int) -> None:
        if budget <= 0 or min_pending < 1:
            raise ValueError("need budget > 0 and min_pending >= 1")
        self.budget = budget
        self.min_pending = min_pending
        self.pending = 0
        self.throughput = 0.0

    @property
    def allowed(self) -> int:
        return max(self.min_pending, math.floor(self.throughput * self.budget))

    def observe(self, *, pending: int, settled: int, window: float) -> None:
        """The store's view: ``pending`` orders now, ``settled`` in the last ``window`` s."""
        self.pending = pending
        self.throughput = settled / window if window > 0 else 0.0

    def check(self) -> None:
        """Raise :class:`SagaBacklogFullError` if one more saga would wait too long."""
        allowed = self.allowed
        if self.pending >= allowed:
            excess = self.pending - allowed + 1
            wait = excess / self.throughput if self.throughput > 0 else 1.0
            raise SagaBacklogFullError(self.pending, allowed, max(1, min(10, math.ceil(wait))))

    def admitted(self) -> None:
        """An order was just created: it counts until the next refresh sees it."""
        self.pending += 1
