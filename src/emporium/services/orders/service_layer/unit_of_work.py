"""Orders' unit of work: one transaction, its orders, the outbox.

Use cases are written against the :class:`OrdersUnitOfWork` port; the chassis
database makes :class:`SqlOrdersUnitOfWork`, unit tests pass a fake.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis import Publisher, UnitOfWork
from emporium.contracts import Message
from emporium.services.orders.adapters.repository import OrderRepository, OrderStore

__all__ = ["OrdersUnitOfWork", "SqlOrdersUnitOfWork"]


class OrdersUnitOfWork(Protocol):
    """What a use case sees of its transaction."""

    @property
    def orders(self) -> OrderStore: ...

    async def publish(self, *messages: Message) -> None: ...

    async def flush(self) -> None: ...

    def after_commit(self, callback: Callable[[], None]) -> None: ...

    async def commit(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SqlOrdersUnitOfWork(UnitOfWork):
    """The chassis unit of work with orders' repository over its session."""

    def __init__(self, session: AsyncSession, publisher: Publisher | None = None) -> None:
        super().__init__(session, publisher)
        self.orders: OrderStore = OrderRepository(session)
