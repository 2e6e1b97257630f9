"""The catalog's public representation (the API contract in BRIEF.md)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from emporium.contracts import Money
from emporium.services.catalog.models import Category, Product


class CategoryOut(BaseModel):
    slug: str
    name: str


class ProductOut(BaseModel):
    id: UUID
    sku: str
    name: str
    description: str
    price: Money
    categories: list[str]
    image_url: str

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            id=UUID(product.id),
            sku=product.sku,
            name=product.name,
            description=product.description,
            price=Money(amount=product.price_amount, currency=product.currency),
            categories=[c.slug for c in product.categories],
            image_url=f"/api/catalog/products/{product.id}/image",
        )


class ProductPage(BaseModel):
    items: list[ProductOut]
    total: int


def category_out(category: Category) -> CategoryOut:
    return CategoryOut(slug=category.slug, name=category.name)
