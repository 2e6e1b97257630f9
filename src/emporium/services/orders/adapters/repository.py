"""Loading and listing orders inside one transaction; it never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from emporium.services.orders.adapters.orm import order_history, orders
from emporium.services.orders.domain import Order, Status


class OrderStore(Protocol):
    """The port: orders as one transaction sees them."""

    def add(self, order: Order) -> None: ...

    async def get(self, order_id: UUID) -> Order | None: ...

    async def for_change(self, order_id: UUID) -> Order | None: ...

    async def by_key(self, user_id: UUID, key: str) -> Order | None: ...

    async def page(
        self, *, user_id: UUID | None, status: str | None, limit: int, offset: int
    ) -> tuple[Sequence[Order], int]: ...

    async def overdue(self, now: datetime, limit: int) -> list[UUID]: ...


class OrderRepository:
    """The SQL adapter of :class:`OrderStore`."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, order: Order) -> None:
        self.session.add(order)

    async def get(self, order_id: UUID) -> Order | None:
        # populate_existing: a retried message must see the latest committed row.
        query = sa.select(Order).where(orders.c.id == order_id)
        return (
            await self.session.scalars(query.execution_options(populate_existing=True))
        ).one_or_none()

    async def for_change(self, order_id: UUID) -> Order | None:
        """The order a saga step changes, in one query: with its lines (the
        commands it sends carry them), without its history, which a step only
        appends to (the appended entries are inserted as usual).

        Every saga reply loads one; ``get``'s two extra ``selectin`` queries
        were the largest single cost in orders under checkout load.
        """
        mapper = sa.inspect(Order)
        query = (
            sa.select(Order)
            .where(orders.c.id == order_id)
            .options(
                joinedload(mapper.attrs["lines"].class_attribute),
                # Not loaded here; set below to an empty list the session
                # treats as loaded, so what a step appends is inserted.
                lazyload(mapper.attrs["history"].class_attribute),
            )
            # As in get: a retried message must see the latest committed row.
            .execution_options(populate_existing=True)
        )
        order = (await self.session.execute(query)).unique().scalar_one_or_none()
        if order is not None:
            set_committed_value(order, "history", [])
        return order

    async def by_key(self, user_id: UUID, key: str) -> Order | None:
        query = sa.select(Order).where(orders.c.user_id == user_id, orders.c.idempotency_key == key)
        return (await self.session.scalars(query)).one_or_none()

    async def page(
        self,
        *,
        user_id: UUID | None,
        status: str | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Order], int]:
        """Newest first; ``user_id`` None means every customer's (the admin audit)."""
        where: list[sa.ColumnElement[bool]] = []
        if user_id is not None:
            where.append(orders.c.user_id == user_id)
        if status is not None:
            where.append(orders.c.status == status)
        count = sa.select(sa.func.count()).select_from(orders).where(*where)
        total = int((await self.session.execute(count)).scalar_one())
        query = (
            sa.select(Order)
            .where(*where)
            .order_by(orders.c.created_at.desc(), orders.c.id)
            .limit(limit)
            .offset(offset)
        )
        return (await self.session.scalars(query)).all(), total

    async def overdue(self, now: datetime, limit: int) -> list[UUID]:
        """PENDING orders whose current step is past its deadline, most overdue first."""
        query = (
            sa.select(orders.c.id)
            .where(orders.c.status == Status.PENDING, orders.c.deadline <= now)
            .order_by(orders.c.deadline)
            .limit(limit)
        )
        return list((await self.session.scalars(query)).all())


async def backlog(session: AsyncSession, *, since: datetime, horizon: datetime) -> tuple[int, int]:
    """``(pending, settled)``: orders PENDING now, and sagas that ended since ``since``.

    Settled means the history gained CONFIRMED or CANCELLED; only orders created
    after ``horizon`` are looked at (a saga ends within its steps' deadlines),
    so the index on ``created_at`` bounds the work however many orders exist.
    """
    pending = (
        sa.select(sa.func.count()).select_from(orders).where(orders.c.status == Status.PENDING)
    )
    settled = (
        sa.select(sa.func.count())
        .select_from(order_history.join(orders, orders.c.id == order_history.c.order_id))
        .where(
            orders.c.created_at >= horizon,
            order_history.c.status.in_([Status.CONFIRMED, Status.CANCELLED]),
            order_history.c.at >= since,
        )
    )
    return (
        int((await session.execute(pending)).scalar_one()),
        int((await session.execute(settled)).scalar_one()),
    )
