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
refreshed from the store every fraction of a second (:meth:`observe`). A
checkout holds its place from the moment it is admitted (:meth:`reserve`),
while it still reads the cart and asks payments, and then counts as pending
until the next refresh sees its order (:meth:`admitted`), or gives the place
back (:meth:`released`); so neither a burst of concurrent checkouts nor one
between two refreshes can slip past the line.

What is left under the line (:attr:`free`) is reported to the gateway
(``GET /internal/admission``), which refuses on orders' behalf while nothing
is: a refusal at the edge costs no hop to a busy orders (decision 0021).
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
        self.placing = 0  # admitted checkouts that have not created their order yet
        self.throughput = 0.0

    @property
    def allowed(self) -> int:
        return max(self.min_pending, math.floor(self.throughput * self.budget))

    def observe(self, *, pending: int, settled: int, window: float) -> None:
        """The store's view: ``pending`` orders now, ``settled`` in the last ``window`` s."""
        self.pending = pending
        self.throughput = settled / window if window > 0 else 0.0

    @property
    def free(self) -> int:
        """How many more checkouts would be admitted now."""
        return max(0, self.allowed - self.pending - self.placing)

    @property
    def retry_after(self) -> int:
        """Seconds until the backlog has drained below the line (1-10)."""
        excess = self.pending + self.placing - self.allowed + 1
        wait = excess / self.throughput if self.throughput > 0 else 1.0
        return max(1, min(10, math.ceil(wait)))

    def check(self) -> None:
        """Raise :class:`SagaBacklogFullError` if one more saga would wait too long."""
        if self.free == 0:
            busy = self.pending + self.placing
            raise SagaBacklogFullError(busy, self.allowed, self.retry_after)

    def reserve(self) -> None:
        """:meth:`check`, then hold a place; :meth:`admitted` or :meth:`released` ends it."""
        self.check()
        self.placing += 1

    def admitted(self) -> None:
        """The reserved checkout created its order: pending until the next refresh sees it."""
        self._end_placing()
        self.pending += 1

    def released(self) -> None:
        """The reserved checkout created nothing (refused, replayed, failed)."""
        self._end_placing()

    def _end_placing(self) -> None:
        if self.placing == 0:
            raise RuntimeError("no checkout holds a place in the saga backlog")
        self.placing -= 1
