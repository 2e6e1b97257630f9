"""Integration events published by the catalog."""

from __future__ import annotations

from uuid import UUID

from emporium.contracts._base import IntegrationEvent
from emporium.contracts.money import Money


class ProductCreated(IntegrationEvent):
    type = "ProductCreated"
    context = "catalog"

    product_id: UUID
    sku: str
    name: str
    price: Money
    categories: list[str] = []
