"""The saga's reply handlers: load the order, apply the guarded transition, publish.

Each runs inside the chassis consumer's unit of work (with the message's inbox
row) and never commits. A reply for an order this store does not know is
logged and dropped: retrying cannot make it known.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from prometheus_client import Counter, Histogram

from emporium.chassis import Clock, utcnow
from emporium.contracts import inventory as inv
from emporium.contracts import payments as pay
from emporium.contracts import shipping as ship
from emporium.services.orders.domain import Order
from emporium.services.orders.service_layer.publishing import publish_recorded
from emporium.services.orders.service_layer.unit_of_work import OrdersUnitOfWork
from emporium.services.orders.service_layer.watch import OrderWatch

T = TypeVar("T")

logger = logging.getLogger(__name__)

TRANSITIONS = Counter(
    "emporium_saga_transitions_total",
    "Orders entering a saga state (CONFIRMED, SHIPPED, CANCELLED), from a participant's reply",
    ["status"],
)
STEP_DURATION = Histogram(
    "emporium_saga_step_duration_seconds",
    "Time an order waited in a saga step before the reply that ended it",
    ["step"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

RETRIES = Counter(
    "emporium_saga_retries_total",
    "Saga steps whose command an operator sent again from the ops page",
)


class Saga:
    """Applies participants' replies to orders; the outbox carries what follows."""

    def __init__(
        self, *, step_timeout: timedelta, clock: Clock = utcnow, watch: OrderWatch | None = None
    ) -> None:
        self.step_timeout = step_timeout
        self.clock = clock
        self.watch = watch

    async def _apply(
        self, uow: OrdersUnitOfWork, order_id: UUID, reply: str, transition: Callable[[Order], T]
    ) -> T | None:
        """Apply ``transition`` to the order and publish what it recorded; its result."""
        order = await uow.orders.for_change(order_id)
        if order is None:
            logger.warning("%s for unknown order %s dropped", reply, order_id)
            return None
        before, step, waited_since = order.status, order.step, order.updated_at
        result = transition(order)
        await publish_recorded(uow, order)
        # Flush here so a lost race (StaleDataError) fails this delivery, which is retried.
        await uow.flush()
        if order.step != step or order.status != before:
            STEP_DURATION.labels(step=str(step)).observe(
                max((order.updated_at - waited_since).total_seconds(), 0.0)
            )
        if order.status != before:
            TRANSITIONS.labels(status=str(order.status)).inc()
            logger.info("order %s %s -> %s on %s", order.id, before, order.status, reply)
            if self.watch is not None:
                self.watch.after_commit(uow, order.id)
        return result

    async def stock_reserved(self, event: inv.StockReserved, uow: OrdersUnitOfWork) -> None:
        now, timeout = self.clock(), self.step_timeout
        await self._apply(
            uow, event.order_id, event.type, lambda o: o.mark_stock_reserved(now, timeout)
        )

    async def stock_rejected(self, event: inv.StockRejected, uow: OrdersUnitOfWork) -> None:
        now = self.clock()
        await self._apply(uow, event.order_id, event.type, lambda o: o.mark_stock_rejected(now))

    async def stock_committed(self, event: inv.StockCommitted, uow: OrdersUnitOfWork) -> None:
        now = self.clock()
        await self._apply(uow, event.order_id, event.type, lambda o: o.mark_stock_committed(now))

    async def stock_commit_refused(
        self, event: inv.StockCommitRefused, uow: OrdersUnitOfWork
    ) -> None:
        now = self.clock()
        await self._apply(
            uow, event.order_id, event.type, lambda o: o.mark_stock_commit_refused(now)
        )

    async def payment_authorized(self, event: pay.PaymentAuthorized, uow: OrdersUnitOfWork) -> None:
        now, timeout = self.clock(), self.step_timeout
        await self._apply(
            uow, event.order_id, event.type, lambda o: o.mark_payment_authorized(now, timeout)
        )

    async def payment_declined(self, event: pay.PaymentDeclined, uow: OrdersUnitOfWork) -> None:
        now = self.clock()
        await self._apply(uow, event.order_id, event.type, lambda o: o.mark_payment_declined(now))

    async def payment_captured(self, event: pay.PaymentCaptured, uow: OrdersUnitOfWork) -> None:
        now = self.clock()
        await self._apply(uow, event.order_id, event.type, lambda o: o.mark_payment_captured(now))

    async def payment_capture_refused(
        self, event: pay.PaymentCaptureRefused, uow: OrdersUnitOfWork
    ) -> None:
        now = self.clock()
        await self._apply(uow, event.order_id, event.type, lambda o: o.mark_capture_refused(now))

    async def shipment_dispatched(
        self, event: ship.ShipmentDispatched, uow: OrdersUnitOfWork
    ) -> None:
        now = self.clock()

        def ship_it(order: Order) -> None:
            if not order.mark_shipped(event.tracking_number, now):
                logger.warning("shipment of order %s in status %s", order.id, order.status)

        await self._apply(uow, event.order_id, event.type, ship_it)

    async def retry(self, order_id: UUID, uow: OrdersUnitOfWork) -> bool | None:
        """Re-send the current step's command and extend its deadline (an operator's
        retry); None for an unknown order, False unless it is PENDING."""
        now, timeout = self.clock(), self.step_timeout
        retried = await self._apply(uow, order_id, "retry", lambda o: o.retry_step(now, timeout))
        if retried:
            RETRIES.inc()
            logger.info("order %s: saga step retried by an operator", order_id)
        return retried

    async def time_out(self, order_id: UUID, uow: OrdersUnitOfWork) -> bool:
        """Cancel one order if it is still past its step deadline (the sweeper's work)."""
        now = self.clock()
        return await self._apply(uow, order_id, "deadline", lambda o: o.time_out(now)) is True
