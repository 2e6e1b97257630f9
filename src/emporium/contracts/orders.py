"""Events of the orders context (the checkout saga adds more, additively)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from emporium.contracts._base import IntegrationEvent
from emporium.contracts.money import Money


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    product_id: UUID
    sku: str
    name: str
    quantity: int = Field(ge=1)
    unit_price: Money


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    line1: str
    line2: str = ""
    city: str
    postal_code: str
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class OrderConfirmed(IntegrationEvent):
    """Payment captured and stock committed: the cart empties, shipping ships."""

    type = "OrderConfirmed"
    context = "orders"

    order_id: UUID
    user_id: UUID
    lines: list[OrderLine]
    total: Money
    shipping_address: Address | None = None


class OrderPlaced(IntegrationEvent):
    """The order exists (PENDING); the saga starts."""

    type = "OrderPlaced"
    context = "orders"

    order_id: UUID
    user_id: UUID
    total: Money


class OrderCancelled(IntegrationEvent):
    type = "OrderCancelled"
    context = "orders"

    order_id: UUID
    user_id: UUID
    reason: str  # OUT_OF_STOCK, PAYMENT_DECLINED, TIMEOUT, CUSTOMER_CANCELLED


class OrderShipped(IntegrationEvent):
    type = "OrderShipped"
    context = "orders"

    order_id: UUID
    user_id: UUID
    tracking_number: str
