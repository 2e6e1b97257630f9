"""Checkout on a fake unit of work and fake participants: its rules, with no store or network."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from emporium.chassis import deadline
from emporium.chassis.testing import FakeUnitOfWork
from emporium.contracts import Money
from emporium.services.orders.adapters.upstreams import (
    CardRefusedError,
    CardToken,
    CartLine,
    CartView,
    PaymentCard,
    Quote,
)
from emporium.services.orders.domain import CannotCancelError, Order, Status
from emporium.services.orders.service_layer import (
    Checkout,
    CheckoutRefusedError,
    PlaceOrder,
    UnknownOrderError,
)
from emporium.services.orders.service_layer.admission import SagaBacklog, SagaBacklogFullError

NOW = datetime(2030, 1, 1, 12, 0)
ADDRESS: dict[str, Any] = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}
CARD = PaymentCard("4242424242424242", 12, 2035, "123")


class FakeOrders:
    def __init__(self) -> None:
        self.by_id: dict[UUID, Order] = {}

    def add(self, order: Order) -> None:
        self.by_id[order.id] = order

    async def get(self, order_id: UUID) -> Order | None:
        return self.by_id.get(order_id)

    async def for_change(self, order_id: UUID) -> Order | None:
        return self.by_id.get(order_id)

    async def by_key(self, user_id: UUID, key: str) -> Order | None:
        found = [o for o in self.by_id.values() if (o.user_id, o.idempotency_key) == (user_id, key)]
        return found[0] if found else None

    async def page(
        self, *, user_id: UUID | None, status: str | None, limit: int, offset: int
    ) -> tuple[Sequence[Order], int]:
        found = [o for o in self.by_id.values() if user_id in (None, o.user_id)]
        return found[offset : offset + limit], len(found)

    async def overdue(self, now: datetime, limit: int) -> list[UUID]:
        due = [o for o in self.by_id.values() if o.status == Status.PENDING and o.deadline]
        return [o.id for o in due if o.deadline is not None and o.deadline <= now][:limit]


class FakeOrdersUnitOfWork(FakeUnitOfWork):
    """One store shared by every unit of work the factory makes, like one database."""

    def __init__(self, orders: FakeOrders) -> None:
        super().__init__()
        self.orders = orders


class FakeParticipants:
    """Cart, shipping and payments as checkout sees them, answering from fields."""

    def __init__(self) -> None:
        self.cart = CartView(
            items=[
                CartLine(
                    product_id=str(uuid.uuid4()),
                    sku="TEA-1",
                    name="Teapot",
                    quantity=2,
                    unit_price=Money(amount=1999),
                )
            ],
            total=Money(amount=3998),
        )
        self.quote_amount = Money(amount=500)
        self.refusal: CardRefusedError | None = None
        self.calls: list[str] = []

    async def read_cart(self, authorization: str) -> CartView:
        self.calls.append("cart")
        return self.cart

    async def quote(self, authorization: str, country: str, items: list[dict[str, Any]]) -> Quote:
        self.calls.append("quote")
        return Quote(amount=self.quote_amount)

    async def tokenize(self, authorization: str, card: PaymentCard) -> CardToken:
        self.calls.append("tokenize")
        if self.refusal is not None:
            raise self.refusal
        return CardToken(card_token="tok_1", brand="visa", last4=card.last4)


class Shop:
    def __init__(self) -> None:
        self.orders = FakeOrders()
        self.units: list[FakeOrdersUnitOfWork] = []
        self.participants = FakeParticipants()
        self.checkout = Checkout(
            self.unit_of_work,
            self.participants,
            hash_key=b"k" * 32,
            step_timeout=timedelta(seconds=30),
            clock=lambda: NOW,
        )

    def unit_of_work(self) -> FakeOrdersUnitOfWork:
        self.units.append(FakeOrdersUnitOfWork(self.orders))
        return self.units[-1]

    def published(self) -> list[str]:
        return [m.type for unit in self.units for m in unit.published]


@pytest.fixture
def shop() -> Shop:
    return Shop()


def command(
    key: str | None = "key-1", card: PaymentCard = CARD, user: UUID | None = None
) -> PlaceOrder:
    return PlaceOrder(user or uuid.uuid4(), "Bearer t", key, ADDRESS, card)


@pytest.mark.parametrize("key", [None, "", "   "])
async def test_an_order_without_idempotency_key_is_refused_with_428(
    shop: Shop, key: str | None
) -> None:
    with pytest.raises(CheckoutRefusedError) as refused:
        await shop.checkout.place(command(key))
    assert refused.value.status == 428
    assert shop.participants.calls == []


async def test_an_idempotency_key_over_255_characters_is_refused_with_400(shop: Shop) -> None:
    with pytest.raises(CheckoutRefusedError) as refused:
        await shop.checkout.place(command("k" * 256))
    assert refused.value.status == 400


async def test_a_placed_order_is_pending_with_its_first_command_in_the_same_transaction(
    shop: Shop,
) -> None:
    order, created = await shop.checkout.place(command())
    assert created
    assert order.status == Status.PENDING
    assert order.total == 2 * 1999 + 500
    assert shop.published() == ["OrderPlaced", "ReserveStock"]
    assert [u.commits for u in shop.units if u.published] == [1]


async def test_the_same_key_and_body_gives_back_the_same_order_without_a_second(
    shop: Shop,
) -> None:
    user = uuid.uuid4()
    first, _ = await shop.checkout.place(command(user=user))
    again, created = await shop.checkout.place(command(user=user))
    assert (again.id, created) == (first.id, False)
    assert len(shop.orders.by_id) == 1
    assert shop.published().count("OrderPlaced") == 1


async def test_the_same_key_with_another_body_is_refused_with_422(shop: Shop) -> None:
    user = uuid.uuid4()
    await shop.checkout.place(command(user=user))
    other = replace(command(user=user), shipping_address={**ADDRESS, "city": "Bath"})
    with pytest.raises(CheckoutRefusedError) as refused:
        await shop.checkout.place(other)
    assert refused.value.status == 422


async def test_an_empty_cart_is_refused_before_the_card_is_sent_anywhere(shop: Shop) -> None:
    shop.participants.cart = CartView(items=[], total=Money(amount=0))
    with pytest.raises(CheckoutRefusedError) as refused:
        await shop.checkout.place(command())
    assert refused.value.status == 422
    assert "tokenize" not in shop.participants.calls
    assert shop.orders.by_id == {}


async def test_a_cart_with_unbuyable_lines_is_refused_with_409(shop: Shop) -> None:
    shop.participants.cart = shop.participants.cart.model_copy(update={"checkout_ready": False})
    with pytest.raises(CheckoutRefusedError) as refused:
        await shop.checkout.place(command())
    assert refused.value.status == 409


async def test_a_quote_in_another_currency_is_refused(shop: Shop) -> None:
    shop.participants.quote_amount = Money(amount=500, currency="EUR")
    with pytest.raises(CheckoutRefusedError):
        await shop.checkout.place(command())
    assert shop.orders.by_id == {}


async def test_a_card_payments_refuses_creates_no_order(shop: Shop) -> None:
    shop.participants.refusal = CardRefusedError(422, "bad card", "number")
    with pytest.raises(CardRefusedError):
        await shop.checkout.place(command())
    assert shop.orders.by_id == {}
    assert shop.published() == []


async def test_a_customer_cancel_before_shipping_compensates_and_says_so(shop: Shop) -> None:
    user = uuid.uuid4()
    order, _ = await shop.checkout.place(command(user=user))
    cancelled = await shop.checkout.cancel(order.id, user)
    assert (cancelled.status, cancelled.reason) == (Status.CANCELLED, "CUSTOMER_CANCELLED")
    assert "OrderCancelled" in shop.published()
    assert "ReleaseStock" in shop.published()


async def test_another_customers_order_cannot_be_cancelled(shop: Shop) -> None:
    order, _ = await shop.checkout.place(command())
    with pytest.raises(UnknownOrderError):
        await shop.checkout.cancel(order.id, uuid.uuid4())
    assert order.status == Status.PENDING


async def test_a_cancelled_order_cannot_be_cancelled_again(shop: Shop) -> None:
    user = uuid.uuid4()
    order, _ = await shop.checkout.place(command(user=user))
    await shop.checkout.cancel(order.id, user)
    with pytest.raises(CannotCancelError):
        await shop.checkout.cancel(order.id, user)


def test_the_cvc_does_not_influence_the_stored_fingerprint(shop: Shop) -> None:
    placed = command()
    other_cvc = replace(placed, card=replace(CARD, cvc="999"))
    assert shop.checkout.fingerprint(placed) == shop.checkout.fingerprint(other_cvc)


def test_the_fingerprint_tells_another_expiry_or_address_apart(shop: Shop) -> None:
    placed = command()
    other_expiry = replace(placed, card=replace(CARD, exp_year=2036))
    other_address = replace(placed, shipping_address={**ADDRESS, "city": "Bath"})
    fingerprints = {shop.checkout.fingerprint(c) for c in (placed, other_expiry, other_address)}
    assert len(fingerprints) == 3


def test_the_fingerprint_keeps_no_full_card_number(shop: Shop) -> None:
    # Two numbers with the same last four digits are one card as far as the hash knows.
    placed = command()
    same_last4 = replace(placed, card=replace(CARD, number="4000056655664242"))
    assert shop.checkout.fingerprint(placed) == shop.checkout.fingerprint(same_last4)


def test_the_card_repr_hides_number_and_cvc() -> None:
    text = repr(PaymentCard("4242424242424242", 6, 2030, "987"))
    assert "4242424242424242" not in text
    assert "987" not in text


# ------------------------------------------------------------------ saga admission


def test_an_idle_system_admits_up_to_its_minimum_of_pending_sagas() -> None:
    backlog = SagaBacklog(budget=5.0, min_pending=3)
    backlog.observe(pending=2, settled=0, window=5.0)
    assert backlog.free == 1
    backlog.reserve()
    backlog.admitted()
    assert backlog.free == 0
    with pytest.raises(SagaBacklogFullError) as full:
        backlog.check()
    assert full.value.retry_after == 1


def test_a_checkout_in_progress_holds_its_place_until_it_creates_its_order_or_gives_up() -> None:
    backlog = SagaBacklog(budget=5.0, min_pending=3)
    backlog.observe(pending=0, settled=0, window=5.0)
    for _ in range(3):  # concurrent checkouts, none has created its order yet
        backlog.reserve()
    assert (backlog.free, backlog.placing, backlog.pending) == (0, 3, 0)
    with pytest.raises(SagaBacklogFullError):
        backlog.reserve()
    backlog.released()  # one found its cart empty, say
    backlog.admitted()
    assert (backlog.free, backlog.placing, backlog.pending) == (1, 1, 1)
    backlog.released()
    with pytest.raises(RuntimeError):
        backlog.released()  # more ends than places is a bug, not a number to go negative


def test_pending_sagas_are_admitted_up_to_throughput_times_the_budget() -> None:
    backlog = SagaBacklog(budget=5.0, min_pending=3)
    backlog.observe(pending=39, settled=40, window=5.0)  # 8/s: 40 may be pending
    assert backlog.allowed == 40
    assert backlog.free == 1
    backlog.check()
    backlog.observe(pending=56, settled=40, window=5.0)
    assert backlog.free == 0
    with pytest.raises(SagaBacklogFullError) as full:
        backlog.check()
    assert full.value.retry_after == backlog.retry_after == 3  # 17 over the line at 8/s


async def test_a_full_saga_backlog_refuses_before_reading_the_cart_or_writing(shop: Shop) -> None:
    backlog = SagaBacklog(budget=5.0, min_pending=1)
    shop.checkout.admission = backlog
    await shop.checkout.place(command())
    assert (backlog.pending, backlog.placing) == (1, 0)  # counted at once, before the next probe
    shop.participants.calls.clear()
    with pytest.raises(SagaBacklogFullError):
        await shop.checkout.place(command(key="key-2"))
    assert shop.participants.calls == []
    assert len(shop.orders.by_id) == 1


async def test_a_checkout_that_creates_nothing_gives_its_place_back(shop: Shop) -> None:
    backlog = SagaBacklog(budget=5.0, min_pending=1)
    shop.checkout.admission = backlog
    placed = command()
    first, _ = await shop.checkout.place(placed)
    backlog.observe(pending=0, settled=0, window=5.0)  # the order is done: room again
    again, created = await shop.checkout.place(placed)  # the same user and key: a replay
    assert (again.id, created) == (first.id, False)
    assert (backlog.pending, backlog.placing, backlog.free) == (0, 0, 1)


async def test_no_order_is_written_once_the_callers_deadline_has_passed(shop: Shop) -> None:
    token = deadline.current.set(time.monotonic() - 0.001)
    try:
        with pytest.raises(deadline.DeadlineExceededError):
            await shop.checkout.place(command())
    finally:
        deadline.current.reset(token)
    assert shop.orders.by_id == {}
    assert shop.published() == []
