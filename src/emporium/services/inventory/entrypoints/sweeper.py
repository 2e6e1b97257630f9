"""The expiry sweeper: releases reservations held past their deadline."""

from __future__ import annotations

import functools
import logging

from emporium.chassis import Database, transactionally
from emporium.chassis.periodic import Periodic
from emporium.services.inventory.service_layer import InventoryService, SqlInventoryUnitOfWork

logger = logging.getLogger(__name__)


class ExpirySweeper(Periodic):
    """A chassis component: every ``interval`` seconds, expires what is due.

    Safe with several replicas: each reservation expires in its own transaction
    under the same locks as a commit or release, and re-checks its status there,
    so a reservation expires once (one ``StockReleased``) whoever sweeps it.
    A failing pass is logged and retried on the next tick; it never stops the loop.
    """

    def __init__(
        self,
        service: InventoryService,
        database: Database[SqlInventoryUnitOfWork],
        *,
        interval: float,
        batch: int,
    ) -> None:
        super().__init__(name="inventory-expiry-sweeper", interval=interval)
        self.service = service
        self.database = database
        self.batch = batch

    done = "expired %d reservations"

    async def run_once(self) -> int:
        """Expire every reservation due now (in batches); the number expired."""
        expired = 0
        while True:
            units = self.database.unit_of_work
            due = await transactionally(units, lambda uow: self.service.expired(uow, self.batch))
            for order_id in due:
                expire = functools.partial(self.service.expire, order_id)
                if await transactionally(units, expire):
                    expired += 1
            if len(due) < self.batch:
                return expired
