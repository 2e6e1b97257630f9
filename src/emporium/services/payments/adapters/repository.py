"""Loading and locking payment intents inside one unit of work.

Two messages for one order (say a capture and a void from a timed-out saga)
must not interleave. PostgreSQL: ``SELECT ... FOR UPDATE`` on the intent row.
SQLite has no row locks, but a message handler's transaction has already
written its inbox row, which holds SQLite's single write lock until commit.
"""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.services.payments.adapters.orm import payment_intents
from emporium.services.payments.domain import PaymentIntent


class PaymentRepository:
    """The intents one transaction works on; it never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_order(self, order_id: UUID, *, lock: bool = False) -> PaymentIntent | None:
        query = sa.select(PaymentIntent).where(payment_intents.c.order_id == order_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(query)).one_or_none()

    def add(self, intent: PaymentIntent) -> None:
        self.session.add(intent)

    async def page(
        self, status: str | None, limit: int, offset: int
    ) -> tuple[list[PaymentIntent], int]:
        """Intents oldest first (a stable order for paging an audit), and how many match."""
        where = [payment_intents.c.status == status] if status else []
        count = sa.select(sa.func.count()).select_from(payment_intents).where(*where)
        total = await self.session.scalar(count)
        query = (
            sa.select(PaymentIntent)
            .where(*where)
            .order_by(payment_intents.c.created_at, payment_intents.c.id)
            .limit(limit)
            .offset(offset)
        )
        return list((await self.session.scalars(query)).all()), int(total or 0)
