"""Payments' unit of work: one transaction, its intents, its card vault, the outbox.

Use cases are written against the :class:`PaymentsUnitOfWork` port; the chassis
database makes :class:`SqlPaymentsUnitOfWork`, unit tests pass a fake.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis import Publisher, UnitOfWork
from emporium.contracts import Message
from emporium.services.payments.adapters.repository import (
    CardVault,
    IntentRepository,
    PaymentRepository,
    SqlCardVault,
)

__all__ = ["PaymentsUnitOfWork", "SqlPaymentsUnitOfWork"]


class PaymentsUnitOfWork(Protocol):
    """What a use case sees of its transaction."""

    @property
    def payments(self) -> IntentRepository: ...

    @property
    def cards(self) -> CardVault: ...

    async def publish(self, *messages: Message) -> None: ...


class SqlPaymentsUnitOfWork(UnitOfWork):
    """The chassis unit of work with payments' repositories over its session."""

    def __init__(self, session: AsyncSession, publisher: Publisher | None = None) -> None:
        super().__init__(session, publisher)
        self.payments: IntentRepository = PaymentRepository(session)
        self.cards: CardVault = SqlCardVault(session)
