"""The expiry sweeper: releases reservations held past their deadline."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from emporium.chassis import Database
from emporium.services.inventory.service_layer import InventoryService, transactionally

logger = logging.getLogger(__name__)


class ExpirySweeper:
    """A chassis component: every ``interval`` seconds, expires what is due.

    Safe with several replicas: each reservation expires in its own transaction
    under the same locks as a commit or release, and re-checks its status there,
    so a reservation expires once (one ``StockReleased``) whoever sweeps it.
    A failing pass is logged and retried on the next tick; it never stops the loop.
    """

    def __init__(
        self, service: InventoryService, database: Database, *, interval: float, batch: int
    ) -> None:
        self.service = service
        self.database = database
        self.interval = interval
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="inventory-expiry-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def ready(self) -> bool:
        return self._task is not None and not self._task.done()

    async def sweep_once(self) -> int:
        """Expire every reservation due now (in batches); the number expired."""
        expired = 0
        while True:
            due = await transactionally(
                self.database, lambda uow: self.service.expired(uow, self.batch)
            )
            for order_id in due:
                expire = functools.partial(self.service.expire, order_id)
                if await transactionally(self.database, expire):
                    expired += 1
            if len(due) < self.batch:
                return expired

    async def _run(self) -> None:
        while True:
            try:
                if count := await self.sweep_once():
                    logger.info("expired %d reservations", count)
            except Exception:
                logger.exception("expiry sweep failed; retrying next tick")
            await asyncio.sleep(self.interval)
