"""Every message inventory consumes, and what it does with it (one explicit table)."""

from __future__ import annotations

from emporium.chassis.messaging import Handler
from emporium.contracts import Message
from emporium.contracts.catalog import ProductCreated, ProductDeleted
from emporium.contracts.inventory import CommitStock, ReleaseStock, ReserveStock
from emporium.services.inventory.service_layer import InventoryService, InventoryUnitOfWork


def message_handlers(service: InventoryService) -> dict[type[Message], Handler]:
    """The handler table; the chassis runs each with its inbox row, exactly once per id."""

    async def reserve(command: ReserveStock, uow: InventoryUnitOfWork) -> None:
        await service.reserve(command, uow)

    async def commit(command: CommitStock, uow: InventoryUnitOfWork) -> None:
        await service.commit(command, uow)

    async def release(command: ReleaseStock, uow: InventoryUnitOfWork) -> None:
        await service.release(command, uow)

    return {
        ProductCreated: service.product_created,
        ProductDeleted: service.product_deleted,
        ReserveStock: reserve,
        CommitStock: commit,
        ReleaseStock: release,
    }
