"""What cart does with the messages it consumes (one explicit table)."""

from __future__ import annotations

import logging

from emporium.chassis import UnitOfWork
from emporium.chassis.messaging import Handler
from emporium.contracts import Message
from emporium.contracts.catalog import PriceChanged, ProductDeleted
from emporium.contracts.orders import OrderConfirmed
from emporium.services.cart.repository import CartRepository

__all__ = ["message_handlers"]

logger = logging.getLogger(__name__)


def _epoch_ms(message: Message) -> int:
    return int(message.occurred_at.timestamp() * 1000)


def message_handlers(carts: CartRepository) -> dict[type[Message], Handler]:
    """The handler table; each handler does its effect through ``carts`` and never commits."""

    async def on_price_changed(event: PriceChanged, uow: UnitOfWork) -> None:
        changed = await carts.reprice(
            uow,
            event.id,
            event.product_id,
            event.new_price.amount,
            event.new_price.currency,
            _epoch_ms(event),
        )
        logger.info("repriced %d cart line(s) of %s", changed, event.product_id)

    async def on_product_deleted(event: ProductDeleted, uow: UnitOfWork) -> None:
        changed = await carts.withdraw(uow, event.id, event.product_id)
        logger.info("flagged %d cart line(s) of deleted %s", changed, event.product_id)

    async def on_order_confirmed(event: OrderConfirmed, uow: UnitOfWork) -> None:
        # Only what the order bought leaves the cart: a product added while the
        # saga ran stays for the next order (docs/decisions/0010-cart.md).
        products = sorted({line.product_id for line in event.lines}, key=str)
        removed = await carts.remove_products(uow, event.id, event.user_id, products)
        logger.info("order %s took %d line(s) out of its cart", event.order_id, removed)

    return {
        PriceChanged: on_price_changed,
        ProductDeleted: on_product_deleted,
        OrderConfirmed: on_order_confirmed,
    }
