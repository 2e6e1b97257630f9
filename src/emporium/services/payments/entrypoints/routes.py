"""Payments' HTTP API: card tokenization, a payment for its owner, the admin audit list.

Tokenization is the only door a card number comes through. The body's number
and CVC are pydantic ``Secret``s (masked in any repr), validation errors name the
field but never echo its value, and only the token, brand, last four digits
and expiry leave this module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, JsonValue, Secret, StringConstraints

from emporium.chassis import Database, Problem, Runtime
from emporium.chassis.auth import AdminUser, CurrentUser
from emporium.chassis.openapi import JsonInt, Offset
from emporium.chassis.problems import problem_responses
from emporium.contracts.money import Money
from emporium.services.payments.adapters.repository import PaymentRepository
from emporium.services.payments.domain import Card, CardError, PaymentIntent, PaymentStatus
from emporium.services.payments.service_layer import PaymentsService, SqlPaymentsUnitOfWork

router = APIRouter(prefix="/api/payments", tags=["payments"])


# The schema says the shape exactly; what no schema can say (Luhn, expiry,
# the CVC's length for the brand) is the route's 422.
_CardNumber = Secret[Annotated[str, StringConstraints(pattern=r"^(?:[0-9][ -]?){11,18}[0-9]$")]]
_Cvc = Secret[Annotated[str, StringConstraints(pattern=r"^[0-9]{3,4}$")]]
_WRITE_ONLY: dict[str, JsonValue] = {"format": "password", "writeOnly": True}


class CardIn(BaseModel):
    number: _CardNumber = Field(
        description="12 to 19 digits; single spaces or dashes between them are ignored",
        examples=["4242424242424242"],
        json_schema_extra=_WRITE_ONLY,
    )
    exp_month: JsonInt = Field(ge=1, le=12, examples=[12])
    exp_year: JsonInt = Field(ge=2000, le=2100, examples=[2035])
    cvc: _Cvc = Field(examples=["123"], json_schema_extra=_WRITE_ONLY)


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


@router.post("/cards", response_model=CardOut, status_code=201, responses=problem_responses(422))
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


# Only a UUID matches, so GET /api/payments/cards is a 405 (POST only), not a
# malformed order id.
@router.get("/{order_id:uuid}", response_model=PaymentOut, responses=problem_responses(404))
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
    offset: Offset = 0,
) -> PaymentPage:
    async with _database(request).session() as session:
        intents, total = await PaymentRepository(session).page(status, limit, offset)
    return PaymentPage(items=[PaymentOut.of(intent) for intent in intents], total=total)
