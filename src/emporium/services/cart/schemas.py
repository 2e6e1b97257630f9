"""Cart's public representation (docs/api.md, "cart", with the additive ``available`` and
``checkout_ready``)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from emporium.chassis.openapi import JsonInt
from emporium.contracts import Money
from emporium.services.cart.domain import MAX_QUANTITY, Cart, CartLine


class QuantityIn(BaseModel):
    # "2", 2.5 and true are mistakes to report, not to guess at; 2.0 is the
    # JSON integer 2, as the schema says.
    quantity: JsonInt = Field(
        ge=0, le=MAX_QUANTITY, description=f"units wanted, 1 to {MAX_QUANTITY}; 0 removes the line"
    )


class CartLineOut(BaseModel):
    product_id: UUID
    sku: str
    name: str
    quantity: int
    unit_price: Money
    line_total: Money
    available: bool = Field(description="false once the product is deleted: blocks checkout")

    @classmethod
    def of(cls, line: CartLine) -> CartLineOut:
        return cls(
            product_id=line.product_id,
            sku=line.sku,
            name=line.name,
            quantity=line.quantity,
            unit_price=Money(amount=line.unit_price, currency=line.currency),
            line_total=Money(amount=line.line_total, currency=line.currency),
            available=line.available,
        )


class CartOut(BaseModel):
    items: list[CartLineOut]
    total: Money
    checkout_ready: bool = Field(description="not empty and every line can be bought")

    @classmethod
    def of(cls, cart: Cart) -> CartOut:
        return cls(
            items=[CartLineOut.of(line) for line in cart.lines],
            total=Money(amount=cart.total, currency=cart.currency),
            checkout_ready=cart.checkout_ready,
        )
