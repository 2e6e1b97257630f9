"""Answers held until an order changes: the long poll of ``GET /api/orders/{id}?wait=``.

A client that placed an order wants to know when it leaves ``PENDING``. Asked
every 50 ms, each answer costs a request through the gateway, a token check and
a read, and still comes up to one interval late. Held instead, the request
reads the order again when this process commits a change to it (the saga's
reply, the deadline sweeper, a cancel), and answers the moment it is settled.

A change committed by another replica of orders is not heard here: the waiter
also reads again every ``recheck`` seconds, so it is seen that much later at
most. Nothing is held while waiting but an event: no session, no connection.
When the process starts to stop, every waiter reads once more and answers.

A held request also holds a slot of the gateway's bulkhead for orders, so
one order has at most ``per_order`` waiters; the next asker is answered at
once. A customer's orders are few (checkout is rate-limited per user), so
no one customer can fill the bulkhead with waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Protocol, TypeVar
from uuid import UUID

T = TypeVar("T")


class Transaction(Protocol):
    """What :meth:`OrderWatch.after_commit` needs of a unit of work."""

    def after_commit(self, callback: Callable[[], None]) -> None: ...


class OrderWatch:
    """Wakes the requests waiting on an order when this process changes it."""

    def __init__(self, *, recheck: float, per_order: int = 4) -> None:
        if recheck <= 0:
            raise ValueError("recheck must be positive")
        if per_order < 1:
            raise ValueError("per_order must be at least 1")
        self.recheck = recheck
        self.per_order = per_order
        self._waiting: dict[UUID, set[asyncio.Event]] = {}
        self._closed = False

    @property
    def waiting(self) -> int:
        """Requests waiting now (for the tests and the curious)."""
        return sum(len(events) for events in self._waiting.values())

    def after_commit(self, uow: Transaction, order_id: UUID) -> None:
        """Wake the order's waiters once ``uow`` commits (never if it does not)."""
        uow.after_commit(partial(self.changed, order_id))

    def changed(self, order_id: UUID) -> None:
        """The order's change is committed: whoever waits on it reads it again."""
        for event in self._waiting.get(order_id, ()):
            event.set()

    def close(self) -> None:
        """The process is stopping: every waiter answers now, and no one waits again."""
        self._closed = True
        for events in self._waiting.values():
            for event in events:
                event.set()

    async def wait(
        self,
        order_id: UUID,
        load: Callable[[], Awaitable[T]],
        settled: Callable[[T], bool],
        at_most: float,
    ) -> T:
        """``load()`` until ``settled`` holds of what it returns, for ``at_most`` seconds.

        It loads once at once, then again after each change this process commits
        to the order and at least every ``recheck`` seconds; the last load is
        the answer. Registered before the first load, so a change committed
        between that load and the wait is not missed. With ``per_order``
        waiters on the order already, it loads once and answers.
        """
        if len(self._waiting.get(order_id, ())) >= self.per_order:
            return await load()
        loop = asyncio.get_running_loop()
        until = loop.time() + at_most
        with self._watching(order_id) as changed:
            found = await load()
            while not settled(found) and not self._closed:
                left = until - loop.time()
                if left <= 0:
                    break
                with suppress(TimeoutError):
                    async with asyncio.timeout(min(left, self.recheck)):
                        await changed.wait()
                changed.clear()
                found = await load()
        return found

    @contextmanager
    def _watching(self, order_id: UUID) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiting.setdefault(order_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiting[order_id]
            events.discard(event)
            if not events:
                del self._waiting[order_id]
