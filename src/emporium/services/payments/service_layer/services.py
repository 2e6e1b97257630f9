"""The use cases. Each takes the caller's unit of work and never commits it: a message
handler's transaction also holds its inbox row, the tokenization route commits its own.
Integration events go to the outbox in that same transaction as the state change
(``uow.publish``).
"""

from __future__ import annotations

import logging
from uuid import UUID

from emporium.chassis import Clock, utcnow
from emporium.contracts import Message
from emporium.contracts.money import Money
from emporium.contracts.payments import (
    AuthorizePayment,
    CapturePayment,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentCaptureRefused,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    RefundPayment,
    VoidPayment,
)
from emporium.services.payments.adapters.processor import SimulatedProcessor, StoredCard
from emporium.services.payments.domain import (
    Authorized,
    Captured,
    CaptureRefused,
    Card,
    Declined,
    DomainEvent,
    PaymentIntent,
    Refunded,
    Voided,
)
from emporium.services.payments.service_layer.unit_of_work import PaymentsUnitOfWork

logger = logging.getLogger(__name__)


class PaymentsService:
    """Payments' rules applied in a unit of work, with the answers in its outbox.

    Every command is answered, once per delivery, with the event its intent's
    state calls for; the effect on money happens at most once per order.
    """

    def __init__(self, processor: SimulatedProcessor, *, clock: Clock = utcnow) -> None:
        self.processor = processor
        self.clock = clock

    async def tokenize(self, card: Card, owner: UUID, uow: PaymentsUnitOfWork) -> StoredCard:
        """Validate (``CardError``) and vault a card; the number goes no further.

        Expiry is judged by the injected clock's (UTC) date, like every other time here.
        """
        card.validate(self.clock().date())
        stored = await self.processor.tokenize(uow.cards, card, owner, self.clock())
        logger.info(
            "card tokenized",
            extra={"brand": stored.brand, "last4": stored.last4, "owner": str(owner)},
        )
        return stored

    async def authorize(self, command: AuthorizePayment, uow: PaymentsUnitOfWork) -> PaymentIntent:
        repository = uow.payments
        intent = await repository.for_order(command.order_id, lock=True)
        if intent is not None:
            intent.authorize_requested_again()
        else:
            decision = await self.processor.authorize(
                uow.cards, command.card_token, command.user_id, command.amount.amount
            )
            now = self.clock()
            amount = command.amount
            intent = PaymentIntent(
                command.order_id, command.user_id, amount.amount, amount.currency, now
            )
            if decision.approved:
                intent.authorize(decision.brand, decision.last4, now)
            else:
                intent.decline(decision.reason, decision.brand, decision.last4, now)
            repository.add(intent)
        await self._publish(uow, intent)
        return intent

    async def capture(
        self, command: CapturePayment, uow: PaymentsUnitOfWork
    ) -> PaymentIntent | None:
        intent = await uow.payments.for_order(command.order_id, lock=True)
        if intent is None:
            refusal = PaymentCaptureRefused(order_id=command.order_id, reason="NOT_AUTHORIZED")
            await uow.publish(refusal)
            return None
        if intent.status == "AUTHORIZED":
            await self.processor.settle()
        intent.capture_requested(self.clock())
        await self._publish(uow, intent)
        return intent

    async def void(self, command: VoidPayment, uow: PaymentsUnitOfWork) -> PaymentIntent:
        intent = await self._intent_or_tombstone(command.order_id, uow)
        if intent.status in ("AUTHORIZED", "CAPTURED"):
            await self.processor.settle()
        intent.void_requested(self.clock())
        await self._publish(uow, intent)
        return intent

    async def refund(self, command: RefundPayment, uow: PaymentsUnitOfWork) -> PaymentIntent:
        intent = await self._intent_or_tombstone(command.order_id, uow)
        if intent.status in ("AUTHORIZED", "CAPTURED"):
            await self.processor.settle()
        intent.refund_requested(self.clock())
        await self._publish(uow, intent)
        return intent

    async def _intent_or_tombstone(self, order_id: UUID, uow: PaymentsUnitOfWork) -> PaymentIntent:
        repository = uow.payments
        intent = await repository.for_order(order_id, lock=True)
        if intent is None:
            intent = PaymentIntent.cancelled_unknown(order_id, "USD", self.clock())
            repository.add(intent)
        return intent

    async def _publish(self, uow: PaymentsUnitOfWork, intent: PaymentIntent) -> None:
        await uow.publish(*(integration_event(event) for event in intent.collect_events()))


def integration_event(event: DomainEvent) -> Message:
    match event:
        case Authorized(order_id, payment_id, amount, currency):
            money = _money(amount, currency)
            return PaymentAuthorized(order_id=order_id, payment_id=payment_id, amount=money)
        case Declined(order_id, reason):
            return PaymentDeclined(order_id=order_id, reason=reason)
        case Captured(order_id, amount, currency):
            return PaymentCaptured(order_id=order_id, amount=_money(amount, currency))
        case CaptureRefused(order_id, reason):
            return PaymentCaptureRefused(order_id=order_id, reason=reason)
        case Voided(order_id):
            return PaymentVoided(order_id=order_id)
        case Refunded(order_id, amount, currency):
            return PaymentRefunded(order_id=order_id, amount=_money(amount, currency))
    raise TypeError(f"no integration event for {event!r}")  # pragma: no cover


def _money(amount: int, currency: str) -> Money:
    return Money(amount=amount, currency=currency)
