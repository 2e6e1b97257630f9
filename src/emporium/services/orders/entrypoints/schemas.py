"""Orders' public representation (docs/api.md, "orders and checkout")."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel, Field

from emporium.chassis.openapi import JsonInt
from emporium.contracts import Money
from emporium.contracts.orders import Address
from emporium.services.orders.domain import Order


class PaymentIn(BaseModel):
    """The card's shape, exactly (the schema says it); payments alone judges the
    rest (Luhn, expiry, brand and CVC) and its refusal comes back as a 422 naming
    the field."""

    number: str = Field(
        pattern=r"^(?:[0-9] ?){11,18}[0-9]$",
        description="12 to 19 digits; single spaces between them are ignored",
        examples=["4242424242424242"],
    )
    exp_month: JsonInt = Field(ge=1, le=12, examples=[12])
    exp_year: JsonInt = Field(ge=2000, le=2100, examples=[2035])
    cvc: str = Field(pattern=r"^[0-9]{3,4}$", examples=["123"])


# One printable line: no control characters (which would also break labels).
_LINE = r"^[^\x00-\x1f\x7f]*$"


class AddressIn(BaseModel):
    """A shipping address as a customer may send it: every field bounded, because
    it travels in every saga message and onto a label."""

    name: str = Field(min_length=1, max_length=200, pattern=_LINE)
    line1: str = Field(min_length=1, max_length=200, pattern=_LINE)
    line2: str = Field(default="", max_length=200, pattern=_LINE)
    city: str = Field(min_length=1, max_length=100, pattern=_LINE)
    postal_code: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class PlaceOrderIn(BaseModel):
    shipping_address: AddressIn
    payment: PaymentIn


class LineOut(BaseModel):
    product_id: UUID
    sku: str
    name: str
    quantity: int
    unit_price: Money
    line_total: Money


class PaymentOut(BaseModel):
    brand: str
    last4: str


class HistoryOut(BaseModel):
    status: str
    at: datetime
    reason: str | None


class OrderOut(BaseModel):
    id: UUID
    user_id: UUID
    status: str
    reason: str | None
    items: list[LineOut]
    items_total: Money
    shipping: Money
    total: Money
    shipping_address: Address
    payment: PaymentOut
    history: list[HistoryOut]
    tracking_number: str | None
    idempotency_key: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        def money(amount: int) -> Money:
            return Money(amount=amount, currency=order.currency)

        return cls(
            id=order.id,
            user_id=order.user_id,
            status=order.status,
            reason=order.reason or None,
            items=[
                LineOut(
                    product_id=line.product_id,
                    sku=line.sku,
                    name=line.name,
                    quantity=line.quantity,
                    unit_price=money(line.unit_price),
                    line_total=money(line.line_total),
                )
                for line in order.lines
            ],
            items_total=money(order.items_total),
            shipping=money(order.shipping),
            total=money(order.total),
            shipping_address=Address.model_validate(order.shipping_address),
            payment=PaymentOut(brand=order.card_brand, last4=order.card_last4),
            history=[
                HistoryOut(status=h.status, at=_utc(h.at), reason=h.reason or None)
                for h in order.history
            ],
            tracking_number=order.tracking_number or None,
            idempotency_key=order.idempotency_key,
            created_at=_utc(order.created_at),
            updated_at=_utc(order.updated_at),
        )


class OrderPage(BaseModel):
    items: list[OrderOut]
    total: int
    limit: int
    offset: int


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
