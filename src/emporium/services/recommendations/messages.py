"""What recommendations does with orders' and catalog's events (one explicit table).

Handlers run in the consumer's unit of work and never commit. Each effect is
idempotent beyond the inbox's message ids: orders count once by order id, and
catalog facts apply by their event time, so a republished event (new message
id) or one arriving out of order changes nothing it should not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from emporium.chassis import UnitOfWork
from emporium.chassis.messaging import Handler
from emporium.contracts import Message
from emporium.contracts.catalog import ProductCreated, ProductDeleted, ProductUpdated
from emporium.contracts.orders import OrderConfirmed
from emporium.services.recommendations.repository import ProductFacts, RecommendationStore

__all__ = ["CHANGES", "as_of", "message_handlers"]

logger = logging.getLogger(__name__)


def as_of(message: Message) -> int:
    """The event's time in epoch microseconds: the version of the facts it carries."""
    occurred = message.occurred_at
    return int(occurred.timestamp()) * 1_000_000 + occurred.microsecond


# Every event that can change an answer: the handler table's keys, and what
# each replica's read model listens to.
CHANGES: tuple[type[Message], ...] = (
    OrderConfirmed,
    ProductCreated,
    ProductUpdated,
    ProductDeleted,
)


def message_handlers(
    store: RecommendationStore, *, changed: Callable[[], None] = lambda: None
) -> dict[type[Message], Handler]:
    """The handler table; every effect goes through ``store``, and ``changed``
    is called once each effect's transaction has committed."""

    async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
        uow.after_commit(changed)
        products = [line.product_id for line in event.lines]
        if await store.add_order(uow, event.order_id, products):
            logger.info("order %s: %d product(s) counted together", event.order_id, len(products))
        else:
            logger.info("order %s was counted already", event.order_id)

    async def on_product_known(event: ProductCreated | ProductUpdated, uow: UnitOfWork) -> None:
        uow.after_commit(changed)
        facts = ProductFacts(event.product_id, tuple(event.categories), as_of(event))
        if not await store.learn_product(uow, facts):
            logger.info("product %s: %s superseded, ignored", event.product_id, event.type)

    async def on_product_deleted(event: ProductDeleted, uow: UnitOfWork) -> None:
        uow.after_commit(changed)
        await store.forget_product(uow, event.product_id, as_of(event))
        logger.info("product %s deleted: no longer recommended", event.product_id)

    return {
        OrderConfirmed: on_order_confirmed,
        ProductCreated: on_product_known,
        ProductUpdated: on_product_known,
        ProductDeleted: on_product_deleted,
    }
