"""The dispatcher: hands due shipments to the carrier and says so."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from emporium.chassis import Database
from emporium.chassis.clock import utcnow
from emporium.chassis.messaging import Outbox
from emporium.chassis.periodic import Periodic
from emporium.contracts.shipping import ShipmentDispatched
from emporium.services.shipping.store import ShipmentRepository

__all__ = ["Dispatcher"]

logger = logging.getLogger(__name__)


class Dispatcher(Periodic):
    """A chassis component: every ``interval`` seconds, dispatches what is due.

    Due shipments are found in the store, never held in memory, so a restart
    loses nothing: what fell due while the service was down goes out on the
    first pass. Each shipment is claimed with a conditional UPDATE in its own
    transaction together with its ``ShipmentDispatched`` outbox row, so with
    several replicas each shipment is dispatched (and announced) exactly once,
    and never after a cancellation won. A failing pass is logged and retried on
    the next tick; it never stops the loop.
    """

    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        *,
        interval: float,
        batch: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(name="shipping-dispatcher", interval=interval)
        self.database = database
        self.outbox = outbox
        self.batch = batch
        self.clock = clock

    done = "dispatched %d shipments"

    async def run_once(self) -> int:
        """Dispatch every shipment due now (in batches); the number this call dispatched."""
        dispatched = 0
        while True:
            now = self.clock()
            async with self.database.session() as session:
                due = await ShipmentRepository(session).due(now, self.batch)
            for order_id in due:
                if await self._dispatch(order_id, now):
                    dispatched += 1
            if len(due) < self.batch:
                return dispatched

    async def _dispatch(self, order_id: UUID, now: datetime) -> bool:
        async with self.database.unit_of_work() as uow:
            shipment = await ShipmentRepository(uow.session).claim_dispatch(order_id, now)
            if shipment is None:
                return False  # another replica took it, or it was cancelled meanwhile
            await self.outbox.add(
                uow.session,
                ShipmentDispatched(
                    order_id=shipment.order_id,
                    user_id=shipment.user_id,
                    tracking_number=shipment.tracking_number,
                    carrier=shipment.carrier,
                ),
            )
            await uow.commit()
        logger.info("shipment %s dispatched", shipment.tracking_number)
        return True
