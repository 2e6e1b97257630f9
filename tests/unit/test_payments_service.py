"""Payments' use cases on a fake unit of work: the money rules, with no database or broker."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime
from uuid import UUID

import pytest

from emporium.chassis.testing import FakeUnitOfWork
from emporium.contracts import Message, Money
from emporium.contracts.payments import (
    AuthorizePayment,
    CapturePayment,
    PaymentAuthorized,
    PaymentDeclined,
    RefundPayment,
    VoidPayment,
)
from emporium.services.payments.adapters.processor import (
    NOT_OWNER,
    UNKNOWN_TOKEN,
    ProcessorUnavailable,
    SimulatedProcessor,
)
from emporium.services.payments.adapters.repository import VaultedCard
from emporium.services.payments.domain import Card, CardError, PaymentIntent
from emporium.services.payments.service_layer import PaymentsService

NOW = datetime(2026, 1, 1, 12, 0)
TODAY = date(2026, 1, 1)
APPROVES, DECLINED = "4242424242424242", "4000000000000002"


class FakeIntents:
    def __init__(self) -> None:
        self.by_order: dict[UUID, PaymentIntent] = {}

    async def for_order(self, order_id: UUID, *, lock: bool = False) -> PaymentIntent | None:
        return self.by_order.get(order_id)

    def add(self, intent: PaymentIntent) -> None:
        self.by_order[intent.order_id] = intent

    async def page(
        self, status: str | None, limit: int, offset: int
    ) -> tuple[list[PaymentIntent], int]:
        found = [i for i in self.by_order.values() if status in (None, i.status)]
        return found[offset : offset + limit], len(found)


class FakeVault:
    def __init__(self) -> None:
        self.cards: dict[str, VaultedCard] = {}

    async def add(self, card: VaultedCard) -> None:
        self.cards[card.token] = card

    async def get(self, token: str) -> VaultedCard | None:
        return self.cards.get(token)


class FakePaymentsUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.payments = FakeIntents()
        self.cards = FakeVault()


@pytest.fixture
def uow() -> FakePaymentsUnitOfWork:
    return FakePaymentsUnitOfWork()


@pytest.fixture
def service() -> PaymentsService:
    processor = SimulatedProcessor(today=lambda: TODAY)
    return PaymentsService(processor, clock=lambda: NOW)


async def _token(
    service: PaymentsService, uow: FakePaymentsUnitOfWork, owner: UUID, number: str = APPROVES
) -> str:
    card = Card(number=number, exp_month=12, exp_year=2030, cvc="123")
    async with uow:
        stored = await service.tokenize(card, owner, uow)
        await uow.commit()
    return stored.token


async def _apply(uow: FakePaymentsUnitOfWork, handler: object, command: Message) -> list[Message]:
    before = len(uow.published)
    async with uow:
        await handler(command, uow)  # type: ignore[operator]
        await uow.commit()
    return uow.published[before:]


def _authorize(order: UUID, user: UUID, token: str, amount: int = 1500) -> AuthorizePayment:
    return AuthorizePayment(
        order_id=order, user_id=user, amount=Money(amount=amount), card_token=token
    )


async def test_tokenizing_keeps_brand_and_last4_never_the_number(
    service: PaymentsService, uow: FakePaymentsUnitOfWork
) -> None:
    token = await _token(service, uow, uuid.uuid4())
    vaulted = uow.cards.cards[token]
    assert (vaulted.brand, vaulted.last4) == ("visa", "4242")
    assert APPROVES not in repr(vaulted)


async def test_an_invalid_card_is_refused_before_anything_is_vaulted(
    service: PaymentsService, uow: FakePaymentsUnitOfWork
) -> None:
    card = Card(number="4242424242424241", exp_month=12, exp_year=2030, cvc="123")
    async with uow:
        with pytest.raises(CardError):
            await service.tokenize(card, uuid.uuid4(), uow)
    assert uow.cards.cards == {}


async def test_an_expired_card_is_refused_by_the_injected_calendar(
    uow: FakePaymentsUnitOfWork,
) -> None:
    later = PaymentsService(SimulatedProcessor(), clock=lambda: datetime(2031, 1, 1))
    card = Card(number=APPROVES, exp_month=12, exp_year=2030, cvc="123")
    async with uow:
        with pytest.raises(CardError):
            await later.tokenize(card, uuid.uuid4(), uow)


async def test_an_approved_card_is_authorized_for_the_order_total(
    service: PaymentsService, uow: FakePaymentsUnitOfWork
) -> None:
    user, order = uuid.uuid4(), uuid.uuid4()
    token = await _token(service, uow, user)
    published = await _apply(uow, service.authorize, _authorize(order, user, token))
    assert [m.type for m in published] == ["PaymentAuthorized"]
    assert isinstance(published[0], PaymentAuthorized)
    assert published[0].amount == Money(amount=1500)


async def test_a_declined_card_is_answered_with_its_reason(
    service: PaymentsService, uow: FakePaymentsUnitOfWork
) -> None:
    user, order = uuid.uuid4(), uuid.uuid4()
    token = await _token(service, uow, user, DECLINED)
    published = await _apply(uow, service.authorize, _authorize(order, user, token))
    assert isinstance(published[0], PaymentDeclined)
    assert published[0].reason == "card_declined"


@pytest.mark.parametrize("whose", ["unknown", "someone_else"])
async def test_a_token_that_is_not_the_customers_is_declined_without_revealing_it(
    service: PaymentsService, uow: FakePaymentsUnitOfWork, whose: str
) -> None:
    user = uuid.uuid4()
    token = "tok_nope" if whose == "unknown" else await _token(service, uow, uuid.uuid4())
    published = await _apply(uow, service.authorize, _authorize(uuid.uuid4(), user, token))
    assert isinstance(published[0], PaymentDeclined)
    assert published[0].reason == (UNKNOWN_TOKEN if whose == "unknown" else NOT_OWNER)


async def test_authorizing_twice_holds_the_money_once_and_answers_the_same(
    service: PaymentsService, uow: FakePaymentsUnitOfWork
) -> None:
    user, order = uuid.uuid4(), uuid.uuid4()
    token = await _token(service, uow, user)
    first = await _apply(uow, service.authorize, _authorize(order, user, token))
    again = await _apply(uow, service.authorize, _authorize(order, user, token))
    assert [m.type for m in again] == [m.type for m in first] == ["PaymentAuthorized"]
    assert len(uow.payments.by_order) == 1


async def test_capture_happens_once_however_often_it_is_asked(
    service: PaymentsService, uow: FakePaymentsUnitOfWork
) -> None:
    user, order = uuid.uuid4(), uuid.uuid4()
    token = await _token(service, uow, user)
    await _apply(uow, service.authorize, _authorize(order, user, token))
    first = await _apply(uow, service.capture, CapturePayment(order_id=order))
    again = await _apply(uow, service.capture, CapturePayment(order_id=order))
    assert [m.type for m in first] == ["PaymentCaptured"]
    assert [m.type for m in again] == ["PaymentCaptured"]
    assert uow.payments.by_order[order].status == "CAPTURED"


async def test_capture_without_an_authorization_is_refused(
    service: PaymentsService, uow: FakePaymentsUnitOfWork
) -> None:
    published = await _apply(uow, service.capture, CapturePayment(order_id=uuid.uuid4()))
    assert [m.type for m in published] == ["PaymentCaptureRefused"]


async def test_a_void_before_capture_releases_the_hold(
    service: PaymentsService, uow: FakePaymentsUnitOfWork
) -> None:
    user, order = uuid.uuid4(), uuid.uuid4()
    token = await _token(service, uow, user)
    await _apply(uow, service.authorize, _authorize(order, user, token))
    published = await _apply(uow, service.void, VoidPayment(order_id=order))
    assert [m.type for m in published] == ["PaymentVoided"]
    assert uow.payments.by_order[order].status == "VOIDED"


async def test_a_refund_after_capture_returns_the_money(
    service: PaymentsService, uow: FakePaymentsUnitOfWork
) -> None:
    user, order = uuid.uuid4(), uuid.uuid4()
    token = await _token(service, uow, user)
    await _apply(uow, service.authorize, _authorize(order, user, token))
    await _apply(uow, service.capture, CapturePayment(order_id=order))
    published = await _apply(uow, service.refund, RefundPayment(order_id=order))
    assert [m.type for m in published] == ["PaymentRefunded"]


async def test_a_void_that_arrives_before_its_authorization_makes_that_authorization_a_no_op(
    service: PaymentsService, uow: FakePaymentsUnitOfWork
) -> None:
    user, order = uuid.uuid4(), uuid.uuid4()
    token = await _token(service, uow, user)
    await _apply(uow, service.void, VoidPayment(order_id=order))
    late = await _apply(uow, service.authorize, _authorize(order, user, token))
    assert "PaymentAuthorized" not in [m.type for m in late]
    assert uow.payments.by_order[order].status != "AUTHORIZED"


async def test_a_processor_outage_publishes_nothing_so_the_command_is_retried(
    uow: FakePaymentsUnitOfWork,
) -> None:
    failing = SimulatedProcessor(failure_rate=1.0, rng=random.Random(7), today=lambda: TODAY)
    service = PaymentsService(failing, clock=lambda: NOW)
    user, order = uuid.uuid4(), uuid.uuid4()
    token = await _token(service, uow, user)
    with pytest.raises(ProcessorUnavailable):
        await _apply(uow, service.authorize, _authorize(order, user, token))
    assert uow.pending == []
    assert uow.published == []
