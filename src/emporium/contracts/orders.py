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


class OrderConfirmed(IntegrationEvent):
    type = "OrderConfirmed"
    context = "orders"

    order_id: UUID
    user_id: UUID
    lines: list[OrderLine]
    total: Money
