"""Inventory's unit of work: one transaction, the stock repository, the outbox.

Use cases are written against the :class:`InventoryUnitOfWork` port; the
chassis database makes :class:`SqlInventoryUnitOfWork` for routes, sweepers
and message handlers, and unit tests pass a fake with an in-memory repository.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis import Publisher, UnitOfWork
from emporium.contracts import Message
from emporium.services.inventory.adapters.repository import InventoryRepository, StockRepository

__all__ = ["InventoryUnitOfWork", "SqlInventoryUnitOfWork"]


class InventoryUnitOfWork(Protocol):
    """What a use case sees of its transaction."""

    @property
    def stock(self) -> StockRepository: ...

    async def publish(self, *messages: Message) -> None: ...

    async def flush(self) -> None: ...


class SqlInventoryUnitOfWork(UnitOfWork):
    """The chassis unit of work with inventory's repository over its session."""

    def __init__(self, session: AsyncSession, publisher: Publisher | None = None) -> None:
        super().__init__(session, publisher)
        self.stock: StockRepository = InventoryRepository(session)
