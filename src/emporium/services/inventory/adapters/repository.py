"""Loading and locking inventory's aggregates inside one unit of work.

Locking is how concurrent reservations stay correct, on both engines:

- PostgreSQL: ``SELECT ... FOR UPDATE`` on the stock rows, always in SKU order
  (so two orders sharing SKUs never deadlock), then on the reservation row.
- SQLite: there are no row locks, and the driver runs a transaction's first
  reads outside it. So the first statement is a (no-op) write on those rows,
  which takes SQLite's single write lock; every read after it sees the latest
  committed data and no other writer can interleave until commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.services.inventory.adapters.orm import reservations, stock_items
from emporium.services.inventory.domain import Adjustment, Reservation, StockItem


class StockRepository(Protocol):
    """The port: inventory's aggregates as one transaction sees them."""

    async def lock_items(self, skus: Sequence[str]) -> dict[str, StockItem]: ...

    async def item(self, sku: str) -> StockItem | None: ...

    async def reservation(self, order_id: UUID, *, lock: bool = False) -> Reservation | None: ...

    def add(self, aggregate: StockItem | Reservation | Adjustment) -> None: ...

    async def expired(self, now: datetime, limit: int) -> list[UUID]: ...

    async def page(self, limit: int, offset: int) -> tuple[list[StockItem], int]: ...


class InventoryRepository:
    """The SQL adapter of :class:`StockRepository`; it never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._sqlite = session.get_bind().dialect.name == "sqlite"

    async def lock_items(self, skus: Sequence[str]) -> dict[str, StockItem]:
        """The stock items of ``skus`` that exist, locked until the transaction ends."""
        ordered = sorted(set(skus))
        if not ordered:
            return {}
        if self._sqlite:
            await self.session.execute(
                sa.update(stock_items)
                .where(stock_items.c.sku.in_(ordered))
                .values(version=stock_items.c.version)
            )
        query = (
            sa.select(StockItem)
            .where(stock_items.c.sku.in_(ordered))
            .order_by(stock_items.c.sku)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {item.sku: item for item in (await self.session.scalars(query)).all()}

    async def item(self, sku: str) -> StockItem | None:
        return await self.session.get(StockItem, sku)

    async def reservation(self, order_id: UUID, *, lock: bool = False) -> Reservation | None:
        """The order's reservation; ``lock`` re-reads it under a row lock (take items first)."""
        query = sa.select(Reservation).where(reservations.c.order_id == order_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(query)).one_or_none()

    def add(self, aggregate: StockItem | Reservation | Adjustment) -> None:
        self.session.add(aggregate)

    async def expired(self, now: datetime, limit: int) -> list[UUID]:
        """Orders whose reservation is still held past its deadline, oldest first."""
        query = (
            sa.select(reservations.c.order_id)
            .where(reservations.c.status == "RESERVED", reservations.c.expires_at <= now)
            .order_by(reservations.c.expires_at)
            .limit(limit)
        )
        return list((await self.session.scalars(query)).all())

    async def page(self, limit: int, offset: int) -> tuple[list[StockItem], int]:
        total = await self.session.scalar(sa.select(sa.func.count()).select_from(stock_items))
        query = sa.select(StockItem).order_by(stock_items.c.sku).limit(limit).offset(offset)
        return list((await self.session.scalars(query)).all()), int(total or 0)
