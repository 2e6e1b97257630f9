"""The deadline sweeper: cancels (TIMEOUT) orders whose participant stayed silent."""

from __future__ import annotations

import functools
import logging
from uuid import UUID

from emporium.chassis import Database, transactionally
from emporium.chassis.periodic import Periodic
from emporium.services.orders.service_layer import OrdersUnitOfWork, Saga, SqlOrdersUnitOfWork

logger = logging.getLogger(__name__)


class DeadlineSweeper(Periodic):
    """A chassis component: every ``interval`` seconds, times out what is overdue.

    Safe with several replicas: each order is timed out in its own transaction
    that re-checks the deadline on the loaded row and writes under the order's
    optimistic version, so when two sweepers (or a sweeper and a late reply)
    race, one wins and the other tries again on the new state (which, if the
    reply won, is no longer overdue). A failing pass is logged and retried on
    the next tick; it never stops the loop.
    """

    def __init__(
        self,
        saga: Saga,
        database: Database[SqlOrdersUnitOfWork],
        *,
        interval: float,
        batch: int,
    ) -> None:
        super().__init__(name="orders-deadline-sweeper", interval=interval)
        self.saga = saga
        self.database = database
        self.batch = batch

    done = "timed out %d orders"

    async def run_once(self) -> int:
        """Time out every order overdue now (one batch); the number cancelled."""
        units = self.database.unit_of_work
        due = await transactionally(units, self._overdue)
        cancelled = 0
        for order_id in due:
            if await transactionally(units, functools.partial(self.saga.time_out, order_id)):
                cancelled += 1
        return cancelled

    async def _overdue(self, uow: OrdersUnitOfWork) -> list[UUID]:
        return await uow.orders.overdue(self.saga.clock(), self.batch)
