"""What inventory does with the messages it consumes (one table, cosmicpython style)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from emporium.chassis import UnitOfWork
from emporium.contracts.catalog import ProductCreated
from emporium.services.inventory.models import StockItem

logger = logging.getLogger(__name__)


def on_product_created(
    initial_stock: int,
) -> Callable[[ProductCreated, UnitOfWork], Awaitable[None]]:
    """A stock item for every new product; a product seen before is left alone."""

    async def handle(event: ProductCreated, uow: UnitOfWork) -> None:
        if await uow.session.get(StockItem, event.sku) is not None:
            logger.info("stock item %s exists already", event.sku)
            return
        uow.session.add(
            StockItem(
                sku=event.sku,
                product_id=str(event.product_id),
                on_hand=initial_stock,
                initial=initial_stock,
                reserved=0,
            )
        )

    return handle
