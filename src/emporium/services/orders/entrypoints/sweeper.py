"""The deadline sweeper: cancels (TIMEOUT) orders whose participant stayed silent."""

from __future__ import annotations

import logging

from sqlalchemy.orm.exc import StaleDataError

from emporium.chassis import Database
from emporium.chassis.periodic import Periodic
from emporium.services.orders.adapters.repository import OrderRepository
from emporium.services.orders.service_layer.saga import Saga

logger = logging.getLogger(__name__)


class DeadlineSweeper(Periodic):
    """A chassis component: every ``interval`` seconds, times out what is overdue.

    Safe with several replicas: each order is timed out in its own transaction
    that re-checks the deadline on the loaded row and writes under the order's
    optimistic version, so when two sweepers (or a sweeper and a late reply)
    race, one wins and the other's write fails and is dropped for this tick.
    A failing pass is logged and retried on the next tick; it never stops the loop.
    """

    def __init__(self, saga: Saga, database: Database, *, interval: float, batch: int) -> None:
        super().__init__(name="orders-deadline-sweeper", interval=interval)
        self.saga = saga
        self.database = database
        self.batch = batch

    done = "timed out %d orders"

    async def run_once(self) -> int:
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
