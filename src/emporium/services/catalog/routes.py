"""The catalog's HTTP API (reads; admin writes arrive with identity)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import Select, func, or_, select

from emporium.chassis import Database, Problem
from emporium.services.catalog.images import product_svg
from emporium.services.catalog.models import Category, Product, product_categories
from emporium.services.catalog.schemas import CategoryOut, ProductOut, ProductPage, category_out

router = APIRouter(prefix="/api/catalog", tags=["catalog"])


def _db(request: Request) -> Database:
    database: Database = request.app.state.runtime.db
    return database


def _filtered(query: Select[Product], q: str | None, category: str | None) -> Select[Product]:
    if q:
        pattern = f"%{q.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(Product.name).like(pattern),
                func.lower(Product.description).like(pattern),
            )
        )
    if category:
        query = query.where(
            Product.id.in_(
                select(product_categories.c.product_id).where(
                    product_categories.c.category_slug == category
                )
            )
        )
    return query


@router.get("/products", response_model=ProductPage)
async def list_products(
    request: Request,
    q: Annotated[
        str | None, Query(max_length=200, description="words in name or description")
    ] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ProductPage:
    async with _db(request).session() as session:
        base = _filtered(select(Product), q, category)
        total = await session.scalar(select(func.count()).select_from(base.subquery()))
        rows = await session.scalars(
            base.order_by(Product.name, Product.id).limit(limit).offset(offset)
        )
        return ProductPage(items=[ProductOut.of(p) for p in rows], total=total or 0)


async def _product(request: Request, product_id: UUID) -> Product:
    async with _db(request).session() as session:
        product = await session.get(Product, str(product_id))
        if product is None:
            raise Problem(404, f"No product with id {product_id}")
        return product


@router.get("/products/{product_id}", response_model=ProductOut)
async def get_product(request: Request, product_id: UUID) -> ProductOut:
    return ProductOut.of(await _product(request, product_id))


@router.get(
    "/products/{product_id}/image",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def get_product_image(request: Request, product_id: UUID) -> Response:
    product = await _product(request, product_id)
    category = product.categories[0].slug if product.categories else None
    return Response(
        product_svg(product.sku, product.name, category),
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/categories", response_model=list[CategoryOut])
async def list_categories(request: Request) -> list[CategoryOut]:
    async with _db(request).session() as session:
        rows = await session.scalars(select(Category).order_by(Category.name))
        return [category_out(c) for c in rows]
