"""Payments' two stores inside one unit of work: intents (locked) and the card vault.

Two messages for one order (say a capture and a void from a timed-out saga)
must not interleave. PostgreSQL: ``SELECT ... FOR UPDATE`` on the intent row.
SQLite has no row locks, but a message handler's transaction has already
written its inbox row, which holds SQLite's single write lock until commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.services.payments.adapters.orm import card_vault, payment_intents
from emporium.services.payments.domain import PaymentIntent

__all__ = [
    "CardVault",
    "IntentRepository",
    "PaymentRepository",
    "SqlCardVault",
    "VaultedCard",
]


@dataclass(frozen=True)
class VaultedCard:
    """What the vault keeps per token: never the number, never the CVC."""

    token: str
    owner_id: UUID
    outcome: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    created_at: datetime


class IntentRepository(Protocol):
    """The port: payment intents as one transaction sees them."""

    async def for_order(self, order_id: UUID, *, lock: bool = False) -> PaymentIntent | None: ...

    def add(self, intent: PaymentIntent) -> None: ...

    async def page(
        self, status: str | None, limit: int, offset: int
    ) -> tuple[list[PaymentIntent], int]: ...


class CardVault(Protocol):
    """The port: tokenized cards, written once, read by token."""

    async def add(self, card: VaultedCard) -> None: ...

    async def get(self, token: str) -> VaultedCard | None: ...


class SqlCardVault:
    """The SQL adapter of :class:`CardVault`."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, card: VaultedCard) -> None:
        await self.session.execute(
            sa.insert(card_vault).values(
                token=card.token,
                owner_id=card.owner_id,
                outcome=card.outcome,
                brand=card.brand,
                last4=card.last4,
                exp_month=card.exp_month,
                exp_year=card.exp_year,
                created_at=card.created_at,
            )
        )

    async def get(self, token: str) -> VaultedCard | None:
        query = sa.select(card_vault).where(card_vault.c.token == token)
        row = (await self.session.execute(query)).mappings().one_or_none()
        return None if row is None else VaultedCard(**row)


class PaymentRepository:
    """The SQL adapter of :class:`IntentRepository`; it never commits."""

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
