"""Payments' HTTP API: card tokenization, a payment for its owner, the admin audit list.

Tokenization is the only door a card number comes through. The body's number
and CVC are ``SecretStr`` (masked in any repr), validation errors name the
field but never echo its value, and only the token, brand, last four digits
and expiry leave this module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, SecretStr

from emporium.chassis import Database, Problem, Runtime
from emporium.chassis.auth import AdminUser, CurrentUser
from emporium.contracts.money import Money
from emporium.services.payments.adapters.repository import PaymentRepository
from emporium.services.payments.domain import Card, CardError, PaymentIntent, PaymentStatus
from emporium.services.payments.service_layer import PaymentsService, SqlPaymentsUnitOfWork

router = APIRouter(prefix="/api/payments", tags=["payments"])


class CardIn(BaseModel):
    number: SecretStr = Field(min_length=1, max_length=32, description="the card number")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvc: SecretStr = Field(min_length=1, max_length=8)


class CardOut(BaseModel):
    card_token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class PaymentOut(BaseModel):
    """One order's payment; ``captured_amount`` minus ``refunded_amount`` is what was kept."""

    order_id: UUID
    payment_id: UUID
    status: str
    reason: str
    amount: Money
    captured_amount: Money
    refunded_amount: Money
    brand: str
    last4: str
    user_id: UUID | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, intent: PaymentIntent) -> PaymentOut:
        def money(amount: int) -> Money:
            return Money(amount=amount, currency=intent.currency)

        return cls(
            order_id=intent.order_id,
            payment_id=intent.id,
            status=intent.status,
            reason=intent.reason,
            amount=money(intent.amount),
            captured_amount=money(intent.captured_amount),
            refunded_amount=money(intent.refunded_amount),
            brand=intent.brand,
            last4=intent.last4,
            user_id=intent.user_id,
            created_at=intent.created_at.replace(tzinfo=UTC),
            updated_at=intent.updated_at.replace(tzinfo=UTC),
        )


class PaymentPage(BaseModel):
    items: list[PaymentOut]
    total: int


def _database(request: Request) -> Database[SqlPaymentsUnitOfWork]:
    runtime: Runtime = request.app.state.runtime
    return runtime.get(Database)


def _service(request: Request) -> PaymentsService:
    runtime: Runtime = request.app.state.runtime
    return runtime.get(PaymentsService)


@router.post("/cards", response_model=CardOut, status_code=201)
async def tokenize_card(request: Request, body: CardIn, user: CurrentUser) -> CardOut:
    card = Card(
        number=body.number.get_secret_value(),
        exp_month=body.exp_month,
        exp_year=body.exp_year,
        cvc=body.cvc.get_secret_value(),
    )
    async with _database(request).unit_of_work() as uow:
        try:
            stored = await _service(request).tokenize(card, user.user_id, uow)
        except CardError as exc:
            raise Problem(
                422,
                f"The card was refused: {exc}",
                title="Invalid card",
                errors=[{"loc": ["body", exc.field], "msg": str(exc), "type": "card_invalid"}],
            ) from None
        await uow.commit()
    return CardOut(
        card_token=stored.token,
        brand=stored.brand,
        last4=stored.last4,
        exp_month=stored.exp_month,
        exp_year=stored.exp_year,
    )


@router.get("/{order_id}", response_model=PaymentOut)
async def get_payment(request: Request, order_id: UUID, user: CurrentUser) -> PaymentOut:
    async with _database(request).session() as session:
        intent = await PaymentRepository(session).for_order(order_id)
    # Someone else's payment is "not found", not "forbidden": existence is not revealed.
    if intent is None or (intent.user_id != user.user_id and not user.is_admin):
        raise Problem(404, f"No payment for order {order_id}")
    return PaymentOut.of(intent)


@router.get("", response_model=PaymentPage)
async def list_payments(
    request: Request,
    _admin: AdminUser,
    status: PaymentStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PaymentPage:
    async with _database(request).session() as session:
        intents, total = await PaymentRepository(session).page(status, limit, offset)
    return PaymentPage(items=[PaymentOut.of(intent) for intent in intents], total=total)
