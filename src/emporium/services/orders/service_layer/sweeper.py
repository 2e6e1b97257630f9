"""The deadline sweeper: cancels (TIMEOUT) orders whose participant stayed silent."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.orm.exc import StaleDataError

from emporium.chassis import Database
from emporium.services.orders.adapters.repository import OrderRepository
from emporium.services.orders.service_layer.saga import Saga

logger = logging.getLogger(__name__)


class DeadlineSweeper:
    """A chassis component: every ``interval`` seconds, times out what is overdue.

    Safe with several replicas: each order is timed out in its own transaction
    that re-checks the deadline on the loaded row and writes under the order's
    optimistic version, so when two sweepers (or a sweeper and a late reply)
    race, one wins and the other's write fails and is dropped for this tick.
    A failing pass is logged and retried on the next tick; it never stops the loop.
    """

    def __init__(self, saga: Saga, database: Database, *, interval: float, batch: int) -> None:
        self.saga = saga
        self.database = database
        self.interval = interval
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="orders-deadline-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def ready(self) -> bool:
        return self._task is not None and not self._task.done()

    async def sweep_once(self) -> int:
        """Time out every order overdue now (one batch); the number cancelled."""
        async with self.database.session() as session:
            due = await OrderRepository(session).overdue(self.saga.clock(), self.batch)
        cancelled = 0
        for order_id in due:
            try:
                async with self.database.unit_of_work() as uow:
                    if await self.saga.time_out(order_id, uow):
                        await uow.commit()
                        cancelled += 1
            except StaleDataError:
                logger.info("order %s changed while timing it out; next tick decides", order_id)
        return cancelled

    async def _run(self) -> None:
        while True:
            try:
                if count := await self.sweep_once():
                    logger.info("timed out %d orders", count)
            except Exception:
                logger.exception("deadline sweep failed; retrying next tick")
            await asyncio.sleep(self.interval)
