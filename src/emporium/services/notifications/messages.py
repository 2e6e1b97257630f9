"""What notifications does with orders' and shipping's events (one explicit table)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from emporium.chassis import UnitOfWork
from emporium.chassis.messaging import Handler
from emporium.contracts import Message
from emporium.contracts.orders import OrderCancelled, OrderConfirmed
from emporium.contracts.shipping import ShipmentDispatched
from emporium.services.notifications import drafts
from emporium.services.notifications.drafts import Draft
from emporium.services.notifications.mailer import SmtpMailer
from emporium.services.notifications.store import NotificationRepository

__all__ = ["message_handlers"]

logger = logging.getLogger(__name__)


def message_handlers(mailer: SmtpMailer | None = None) -> dict[type[Message], Handler]:
    """Each handler stores one message per event and customer; none commits."""

    def storing(compose: Callable[[Any], Draft]) -> Handler:
        async def handle(event: Message, uow: UnitOfWork) -> None:
            draft = compose(event)
            stored = await NotificationRepository(uow.session).add(draft)
            if stored is None:
                logger.info("order %s: %s already notified", draft.order_id, draft.kind)
                return
            logger.info("order %s: %s stored", draft.order_id, draft.kind)
            if mailer is not None:
                mailer.send_after_commit(uow.session, stored)

        return handle

    return {
        OrderConfirmed: storing(drafts.confirmed),
        OrderCancelled: storing(drafts.cancelled),
        ShipmentDispatched: storing(drafts.shipped),
    }
