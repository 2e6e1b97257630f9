"""The catalog's public representation (the API contract in docs/api.md) and its inputs."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema

from emporium.chassis.openapi import JsonInt
from emporium.contracts import Money
from emporium.services.catalog.models import Category, Product

# PostgreSQL's INTEGER: larger amounts would fail in the store, not here.
MAX_AMOUNT = 2**31 - 1
# No control characters in one-line fields: PostgreSQL refuses NUL outright.
_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=64)]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_ONE_LINE)
]
Description = Annotated[str, StringConstraints(max_length=5000, pattern=r"^[^\x00]*$")]
# An absolute http(s) URL or a path on this site.
ImageUrl = Annotated[str, StringConstraints(max_length=500, pattern=r"^(?:https?://|/)[^\s]*$")]


class CategoryOut(BaseModel):
    slug: str
    name: str


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name


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
            image_url=product.image_url or f"/api/catalog/products/{product.id}/image",
        )


class ProductPage(BaseModel):
    items: list[ProductOut]
    total: int


class PriceIn(BaseModel):
    """A positive price in integer minor units and an ISO 4217 code."""

    model_config = ConfigDict(extra="forbid")

    amount: JsonInt = Field(gt=0, le=MAX_AMOUNT)
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    def money(self) -> Money:
        return Money(amount=self.amount, currency=self.currency)


class ProductIn(BaseModel):
    """A new product. Categories must exist (``PUT /categories/{slug}`` makes one)."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    name: Name
    description: Description = ""
    price: PriceIn
    categories: list[Slug] = Field(default_factory=list, max_length=20)
    image_url: ImageUrl | None = None


class ProductPatch(BaseModel):
    """A partial change: absent fields stay; ``image_url: null`` restores the drawn
    image; the SKU never changes (inventory keys stock by it)."""

    model_config = ConfigDict(extra="forbid")

    # SkipJsonSchema: null is refused (below), so the schema must not offer it.
    name: Name | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    price: PriceIn | SkipJsonSchema[None] = None
    categories: list[Slug] | SkipJsonSchema[None] = Field(default=None, max_length=20)
    image_url: ImageUrl | None = None

    @field_validator("name", "description", "price", "categories", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields present in the body: absent means "keep".
        if value is None:
            raise ValueError("may be left out but not null")
        return value


def category_out(category: Category) -> CategoryOut:
    return CategoryOut(slug=category.slug, name=category.name)
