"""Browsing: home, categories, search, and the product page with its live panels."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from emporium.chassis import Problem
from emporium.services.storefront.api import Api
from emporium.services.storefront.products import CatalogProducts
from emporium.services.storefront.web import api_of, fragment, optional, page, products_of

__all__ = ["Availability", "availability_of", "router"]

router = APIRouter(include_in_schema=False)

LOW_STOCK = 5
RECOMMENDED = 4


@dataclass(frozen=True, slots=True)
class Availability:
    """What the product page says about stock; ``units`` None means inventory did not say."""

    units: int | None

    @property
    def state(self) -> str:
        if self.units is None:
            return "unknown"
        if self.units <= 0:
            return "out"
        return "low" if self.units <= LOW_STOCK else "in"

    @property
    def text(self) -> str:
        return {
            "unknown": "Availability unknown right now",
            "out": "Out of stock",
            "low": f"Only {self.units} left",
            "in": "In stock",
        }[self.state]

    @property
    def can_buy(self) -> bool:
        # Unknown is not "no": the saga checks stock for real at checkout.
        return self.state != "out"


async def availability_of(api: Api, sku: str) -> Availability:
    timeout = api.upstreams.settings.panel_timeout_seconds
    answer = await optional(
        api.call("inventory", "GET", f"/api/inventory/items/{sku}", timeout=timeout), "stock"
    )
    if answer is None or answer.status != 200:
        return Availability(None)
    return Availability(int(answer.json()["available"]))


async def recommended(
    api: Api, products: CatalogProducts, product_id: UUID
) -> list[dict[str, Any]] | None:
    """Products often bought with this one, with catalog details; None hides the panel."""
    timeout = api.upstreams.settings.panel_timeout_seconds
    answer = await optional(
        api.call(
            "recommendations", "GET", f"/api/recommendations/products/{product_id}", timeout=timeout
        ),
        "recommendations",
    )
    if answer is None or answer.status != 200:
        return None
    items = answer.json().get("items", [])[:RECOMMENDED]
    if not items:
        return None
    # Kept products, and one catalog read for the others, not one per product.
    ids = [str(item["product_id"]) for item in items]
    by_id = await optional(products.many(ids, timeout=timeout), "the recommended products")
    if by_id is None:
        return None
    found = [
        {**by_id[product_id], "reason": item.get("reason", "bought_together")}
        for product_id, item in zip(ids, items, strict=True)
        if product_id in by_id
    ]
    return found or None


async def _products(api: Api, **params: str | int) -> dict[str, Any]:
    answer = await api.call("catalog", "GET", "/api/catalog/products", params=params)
    if answer.status != 200:
        raise Problem(502, "The catalog did not answer usefully; please try again")
    found: dict[str, Any] = answer.json()
    return found


def _pages(total: int, size: int, current: int) -> dict[str, int]:
    return {"current": current, "count": max(1, math.ceil(total / size))}


@router.get("/")
async def home(request: Request) -> Response:
    api = api_of(request)
    featured = await _products(api, limit=8)
    categories = await optional(api.upstreams.categories(), "the categories") or []
    return await page(
        request, "home.html", {"featured": featured["items"], "categories": categories}
    )


@router.get("/categories/{slug}")
async def category(
    request: Request, slug: str, page_number: Annotated[int, Query(alias="page", ge=1)] = 1
) -> Response:
    api = api_of(request)
    categories = await api.upstreams.categories()
    named = {c["slug"]: c["name"] for c in categories}
    if slug not in named:
        raise HTTPException(404)
    size = api.upstreams.settings.page_size
    found = await _products(api, category=slug, limit=size, offset=(page_number - 1) * size)
    return await page(
        request,
        "listing.html",
        {
            "heading": named[slug],
            "products": found["items"],
            "total": found["total"],
            "pages": _pages(found["total"], size, page_number),
            "base_url": f"/categories/{slug}?",
        },
    )


@router.get("/search")
async def search(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
) -> Response:
    api = api_of(request)
    size = api.upstreams.settings.page_size
    query = q.strip()
    found: dict[str, Any] = {"items": [], "total": 0}
    if query:
        found = await _products(api, q=query, limit=size, offset=(page_number - 1) * size)
    return await page(
        request,
        "search.html",
        {
            "query": query,
            "products": found["items"],
            "total": found["total"],
            "pages": _pages(found["total"], size, page_number),
            "base_url": f"/search?{urlencode({'q': query})}&",
        },
    )


@router.get("/products/{product_id}")
async def product_page(request: Request, product_id: UUID) -> Response:
    api = api_of(request)
    products = products_of(request)
    product = await products.one(product_id)
    if product is None:
        raise HTTPException(404)
    availability, recommendations = await asyncio.gather(
        availability_of(api, product["sku"]), recommended(api, products, product_id)
    )
    return await page(
        request,
        "product.html",
        {"product": product, "availability": availability, "recommendations": recommendations},
    )


@router.get("/products/{product_id}/availability")
async def availability_fragment(request: Request, product_id: UUID) -> Response:
    """The availability line alone: the product page polls it so it stays live."""
    api = api_of(request)
    product = await products_of(request).one(product_id)
    if product is None:
        raise HTTPException(404)
    availability = await availability_of(api, product["sku"])
    return fragment(
        request, "_availability.html", {"product": product, "availability": availability}
    )
