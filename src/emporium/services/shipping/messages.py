"""What shipping does with the orders context's events (one explicit table).

Handlers run in the consumer's unit of work (inbox row + effect, one commit) and
never commit. Each is idempotent by order as well as by message id, so a
republished event with a new id has no second effect either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from emporium.chassis import UnitOfWork
from emporium.chassis.clock import utcnow
from emporium.chassis.messaging import Handler, Outbox
from emporium.contracts import Message
from emporium.contracts.orders import OrderCancelled, OrderConfirmed
from emporium.contracts.shipping import ShipmentCreated
from emporium.services.shipping.domain import Shipment, ShipmentStatus
from emporium.services.shipping.quotes import DOMESTIC, RATES
from emporium.services.shipping.store import ShipmentRepository

__all__ = ["message_handlers"]

logger = logging.getLogger(__name__)


def message_handlers(
    outbox: Outbox, *, delay: timedelta, clock: Callable[[], datetime] = utcnow
) -> dict[type[Message], Handler]:
    async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
        repository = ShipmentRepository(uow.session)
        if await repository.get(event.order_id) is not None:
            logger.info("order %s already has a shipment", event.order_id)
            return
        if await repository.order_cancelled(event.order_id):
            logger.warning("order %s was cancelled before it was confirmed here", event.order_id)
            return
        # Checkout quoted this country, so it is one we ship to; an order
        # without an address (older producers) goes by the domestic carrier.
        country = event.shipping_address.country if event.shipping_address else "US"
        rate = RATES.get(country, DOMESTIC)
        shipment = Shipment.create(
            event.order_id,
            event.user_id,
            carrier=rate.carrier,
            country=country,
            now=clock(),
            delay=delay,
        )
        await repository.add(shipment)
        await outbox.add(
            uow.session,
            ShipmentCreated(
                order_id=shipment.order_id,
                user_id=shipment.user_id,
                tracking_number=shipment.tracking_number,
            ),
        )
        logger.info("shipment %s created for order %s", shipment.tracking_number, event.order_id)

    async def on_order_cancelled(event: OrderCancelled, uow: UnitOfWork) -> None:
        repository = ShipmentRepository(uow.session)
        now = clock()
        await repository.record_cancellation(event.order_id, event.reason, now)
        if await repository.cancel(event.order_id, now) is not None:
            logger.info("shipment of order %s cancelled (%s)", event.order_id, event.reason)
            return
        shipment = await repository.get(event.order_id)
        if shipment is not None and shipment.status is ShipmentStatus.DISPATCHED:
            # Orders refuses to cancel a shipped order; reaching this means the
            # two raced, and the parcel is already with the carrier.
            logger.warning("order %s cancelled after its shipment left", event.order_id)

    return {OrderConfirmed: on_order_confirmed, OrderCancelled: on_order_cancelled}
