"""The catalog's public reads: browse, search, one product, its image, categories.

Every read is serialized once and answered through :func:`.caching.cached`
(strong ETag, Cache-Control, 304 on ``If-None-Match``). Products and pages
come from the :class:`.read_model.ReadModel` while the catalog has not
changed; on a miss they are read through the ORM and encoded as always, so
the read model holds exactly the bytes the store would give.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Select, func, select

from emporium.chassis import Problem
from emporium.chassis.openapi import Offset
from emporium.chassis.problems import problem_responses
from emporium.services.catalog.caching import (
    IMAGE_MAX_AGE,
    LIST_MAX_AGE,
    PRODUCT_MAX_AGE,
    cached,
    respond,
)
from emporium.services.catalog.dependencies import database, read_model
from emporium.services.catalog.images import product_svg
from emporium.services.catalog.models import Category, Product, product_categories
from emporium.services.catalog.schemas import CategoryOut, ProductOut, ProductPage, category_out
from emporium.services.catalog.search import Search, words

router = APIRouter(prefix="/api/catalog", tags=["catalog"])

JSON = "application/json"
MAX_IDS = 100
_CATEGORIES = TypeAdapter(list[CategoryOut])
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "the client's copy is current"}
}


def _in_category(query: Select[Any], category: str) -> Select[Any]:
    return query.where(
        Product.id.in_(
            select(product_categories.c.product_id).where(
                product_categories.c.category_slug == category
            )
        )
    )


@router.get("/products", response_model=ProductPage, responses=_NOT_MODIFIED)
async def list_products(
    request: Request,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="words in name or description, all required, the last also as a "
            "prefix; results in relevance order (name matches first)",
        ),
    ] = None,
    category: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")] = None,
    ids: Annotated[
        list[UUID] | None,
        Query(
            max_length=MAX_IDS,
            description="only these products (repeat the parameter, up to 100): a page that "
            "shows several known products reads them in one request; ids of no product are "
            "left out, and `total` counts the ones found",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> Response:
    model = read_model(request)
    # Sorted and without repeats: the same set of products is the same page.
    chosen = tuple(sorted({str(product_id) for product_id in ids})) if ids is not None else None
    key = ("page", q, category, chosen, limit, offset)
    encoded = model.get(key) or await model.load(
        key, lambda: _json(_page(request, q, category, chosen, limit, offset))
    )
    return respond(request, encoded.body, encoded.etag, JSON, LIST_MAX_AGE)


async def _json(model: Awaitable[BaseModel]) -> bytes:
    return (await model).model_dump_json().encode()


async def _page(
    request: Request,
    q: str | None,
    category: str | None,
    ids: tuple[str, ...] | None,
    limit: int,
    offset: int,
) -> ProductPage:
    db = database(request)
    query: Select[Any] = select(Product)
    if ids is not None:
        query = query.where(Product.id.in_(ids))
    order: list[Any] = [Product.name, Product.id]
    if q is not None and q.strip():
        terms = words(q)
        if not terms:
            # Only punctuation: nothing can match, and nothing needs asking.
            return ProductPage(items=[], total=0)
        search = Search(terms, db.dialect)
        query = search.filter(query)
        order = [*search.order(), *order]
    if category:
        query = _in_category(query, category)
    async with db.session() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
        if offset >= total:
            return ProductPage(items=[], total=total)
        rows = await session.scalars(query.order_by(*order).limit(limit).offset(offset))
        return ProductPage(items=[ProductOut.of(p) for p in rows], total=total)


async def _product(request: Request, product_id: UUID) -> Product:
    async with database(request).session() as session:
        product = await session.get(Product, str(product_id))
        if product is None:
            raise Problem(404, f"No product with id {product_id}")
        return product


@router.get(
    "/products/{product_id}",
    response_model=ProductOut,
    responses={**_NOT_MODIFIED, **problem_responses(404)},
)
async def get_product(request: Request, product_id: UUID) -> Response:
    model = read_model(request)
    key = ("product", product_id)
    encoded = model.get(key) or await model.load(key, lambda: _product_body(request, product_id))
    return respond(request, encoded.body, encoded.etag, JSON, PRODUCT_MAX_AGE)


async def _product_body(request: Request, product_id: UUID) -> bytes:
    return ProductOut.of(await _product(request, product_id)).model_dump_json().encode()


@router.get(
    "/products/{product_id}/image",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **_NOT_MODIFIED, **problem_responses(404)},
)
async def get_product_image(request: Request, product_id: UUID) -> Response:
    product = await _product(request, product_id)
    category = product.categories[0].slug if product.categories else None
    body = product_svg(product.sku, product.name, category).encode()
    return cached(request, body, "image/svg+xml", IMAGE_MAX_AGE)


@router.get("/categories", response_model=list[CategoryOut], responses=_NOT_MODIFIED)
async def list_categories(request: Request) -> Response:
    async with database(request).session() as session:
        rows = await session.scalars(select(Category).order_by(Category.name, Category.slug))
        body = _CATEGORIES.dump_json([category_out(c) for c in rows])
    return cached(request, body, JSON, PRODUCT_MAX_AGE)
