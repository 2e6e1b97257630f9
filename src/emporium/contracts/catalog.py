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


class ProductUpdated(IntegrationEvent):
    """Name, description or categories changed (price changes are ``PriceChanged``)."""

    type = "ProductUpdated"
    context = "catalog"

    product_id: UUID
    sku: str
    name: str
    categories: list[str] = []


class PriceChanged(IntegrationEvent):
    type = "PriceChanged"
    context = "catalog"

    product_id: UUID
    sku: str
    old_price: Money
    new_price: Money


class ProductDeleted(IntegrationEvent):
    type = "ProductDeleted"
    context = "catalog"

    product_id: UUID
    sku: str


# Every event catalog publishes when a product's representation changes: what
# a cache of catalog's products must hear (catalog's replicas, the storefront).
PRODUCT_CHANGES: tuple[type[IntegrationEvent], ...] = (
    ProductCreated,
    ProductUpdated,
    PriceChanged,
    ProductDeleted,
)
