"""Admin writes: products and categories. Customers get 403, anonymous callers 401.

Each product write publishes its integration event through the outbox in the
same transaction as the change (``ProductCreated``, ``ProductUpdated``,
``PriceChanged`` with the old and the new price, ``ProductDeleted``): the
event exists if and only if the change committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis import Problem
from emporium.chassis.auth import AdminUser
from emporium.contracts import Money
from emporium.contracts.catalog import PriceChanged, ProductCreated, ProductDeleted, ProductUpdated
from emporium.services.catalog.dependencies import database, outbox
from emporium.services.catalog.domain import Price, repriced
from emporium.services.catalog.models import Category, Product
from emporium.services.catalog.schemas import (
    SLUG_PATTERN,
    CategoryIn,
    CategoryOut,
    ProductIn,
    ProductOut,
    ProductPatch,
)

router = APIRouter(prefix="/api/catalog", tags=["catalog admin"])

JSON = "application/json"
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no or invalid bearer token"},
    403: {"description": "not an admin"},
    404: {"description": "no such product"},
    409: {"description": "the SKU exists"},
    422: {"description": "invalid body or unknown categories"},
}


async def _categories(session: AsyncSession, slugs: Sequence[str]) -> list[Category]:
    """The categories named, in slug order; 422 naming any that do not exist."""
    wanted = sorted(set(slugs))
    if not wanted:
        return []
    found = list(await session.scalars(select(Category).where(Category.slug.in_(wanted))))
    missing = sorted(set(wanted) - {c.slug for c in found})
    if missing:
        raise Problem(
            422,
            f"Unknown categories: {', '.join(missing)} (create them with PUT /api/catalog/"
            "categories/{slug} first)",
            unknown_categories=missing,
        )
    return sorted(found, key=lambda c: c.slug)


def _json(product: Product, status: int, headers: dict[str, str] | None = None) -> Response:
    body = ProductOut.of(product).model_dump_json().encode()
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def _duplicate(sku: str) -> Problem:
    return Problem(409, f"A product with SKU {sku} exists", sku=sku)


@router.post("/products", status_code=201, response_model=ProductOut, responses=_ERRORS)
async def create_product(request: Request, body: ProductIn, _admin: AdminUser) -> Response:
    try:
        async with database(request).unit_of_work() as uow:
            session = uow.session
            if await session.scalar(select(Product.id).where(Product.sku == body.sku)):
                raise _duplicate(body.sku)
            product = Product(
                id=str(uuid.uuid4()),
                sku=body.sku,
                name=body.name,
                description=body.description,
                price_amount=body.price.amount,
                currency=body.price.currency,
                image_url=body.image_url,
                categories=await _categories(session, body.categories),
            )
            session.add(product)
            await outbox(request).add(
                session,
                ProductCreated(
                    product_id=UUID(product.id),
                    sku=product.sku,
                    name=product.name,
                    price=body.price.money(),
                    categories=[c.slug for c in product.categories],
                ),
            )
            await uow.commit()
    except IntegrityError as exc:
        # Two admins creating the same SKU at once: the second loses here.
        raise _duplicate(body.sku) from exc
    location = f"/api/catalog/products/{product.id}"
    return _json(product, 201, {"Location": location})


@router.patch("/products/{product_id}", response_model=ProductOut, responses=_ERRORS)
async def update_product(
    request: Request, product_id: UUID, body: ProductPatch, _admin: AdminUser
) -> Response:
    async with database(request).unit_of_work() as uow:
        session = uow.session
        # Write first: the row is locked (PostgreSQL) or the store's write lock
        # taken (SQLite) before reading, so concurrent changes serialize and the
        # "old price" in PriceChanged is the one this change replaced.
        touched = await session.scalar(
            update(Product)
            .where(Product.id == str(product_id))
            .values(updated_at=datetime.now(UTC))
            .returning(Product.id)
        )
        if touched is None:
            raise Problem(404, f"No product with id {product_id}")
        product = await session.get(Product, str(product_id))
        assert product is not None
        events = await _apply(session, product, body)
        for event in events:
            await outbox(request).add(session, event)
        await uow.commit()
    return _json(product, 200)


async def _apply(
    session: AsyncSession, product: Product, body: ProductPatch
) -> list[PriceChanged | ProductUpdated]:
    """Change ``product`` as ``body`` says; the events the real changes call for."""
    given = body.model_fields_set
    events: list[PriceChanged | ProductUpdated] = []
    if body.price is not None:
        old = Price(product.price_amount, product.currency)
        asked = body.price.money()
        if (new := repriced(old, Price(asked.amount, asked.currency))) is not None:
            product.price_amount, product.currency = new.amount, new.currency
            events.append(
                PriceChanged(
                    product_id=UUID(product.id),
                    sku=product.sku,
                    old_price=Money(amount=old.amount, currency=old.currency),
                    new_price=Money(amount=new.amount, currency=new.currency),
                )
            )
    updated = False
    if body.name is not None and body.name != product.name:
        product.name, updated = body.name, True
    if body.description is not None and body.description != product.description:
        product.description, updated = body.description, True
    if "image_url" in given and body.image_url != product.image_url:
        product.image_url, updated = body.image_url, True
    if body.categories is not None:
        categories = await _categories(session, body.categories)
        if [c.slug for c in categories] != [c.slug for c in product.categories]:
            product.categories, updated = categories, True
    if updated:
        events.append(
            ProductUpdated(
                product_id=UUID(product.id),
                sku=product.sku,
                name=product.name,
                categories=[c.slug for c in product.categories],
            )
        )
    return events


@router.delete("/products/{product_id}", status_code=204, responses=_ERRORS)
async def delete_product(request: Request, product_id: UUID, _admin: AdminUser) -> Response:
    async with database(request).unit_of_work() as uow:
        session = uow.session
        # One statement: of two concurrent deletes, exactly one gets the row
        # (and publishes); its category links go with it (ON DELETE CASCADE).
        sku = await session.scalar(
            delete(Product).where(Product.id == str(product_id)).returning(Product.sku)
        )
        if sku is None:
            raise Problem(404, f"No product with id {product_id}")
        await outbox(request).add(session, ProductDeleted(product_id=product_id, sku=sku))
        await uow.commit()
    return Response(status_code=204)


@router.put(
    "/categories/{slug}",
    response_model=CategoryOut,
    responses={201: {"description": "created"}, **_ERRORS},
)
async def put_category(
    request: Request,
    slug: Annotated[str, Path(pattern=SLUG_PATTERN, max_length=64)],
    body: CategoryIn,
    _admin: AdminUser,
) -> Response:
    """Create the category ``slug`` (201) or rename it (200)."""
    try:
        async with database(request).unit_of_work() as uow:
            category = await uow.session.get(Category, slug)
            created = category is None
            if category is None:
                category = Category(slug=slug, name=body.name)
                uow.session.add(category)
            else:
                category.name = body.name
            await uow.commit()
    except IntegrityError as exc:
        raise Problem(409, f"Category {slug} was just created by another request") from exc
    out = CategoryOut(slug=category.slug, name=category.name).model_dump_json().encode()
    return Response(out, status_code=201 if created else 200, media_type=JSON)
