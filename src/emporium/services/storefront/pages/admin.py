"""Admin pages: products, stock per SKU, recent orders. Admins only; others get 403.

The storefront checks the role to decide what to show, but the services
decide what is allowed: every write goes out with the admin's own token.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from emporium.chassis import Problem
from emporium.services.storefront.forms import Form, PostedForm, parse_price
from emporium.services.storefront.pages.orders import order_view
from emporium.services.storefront.web import api_of, page, redirect, require_admin

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)

_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@router.get("")
async def admin_home(request: Request) -> Response:
    require_admin(request)
    return redirect("/admin/products")


@router.get("/products")
async def products(
    request: Request, offset: Annotated[int, Query(ge=0)] = 0, saved: str = ""
) -> Response:
    require_admin(request)
    answer = await api_of(request).call(
        "catalog", "GET", "/api/catalog/products", params={"limit": 100, "offset": offset}
    )
    if answer.status != 200:
        raise Problem(503, "The catalog cannot be listed right now")
    found = answer.json()
    context = {"products": found["items"], "total": found["total"], "saved": saved}
    return await page(request, "admin/products.html", context)


def _product_fields(form: Form, *, new: bool) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    if new:
        if not _SKU.fullmatch(form["sku"]):
            errors["sku"] = "Letters, digits, dots, dashes; up to 64 characters"
        body["sku"] = form["sku"]
    if not form["name"]:
        errors["name"] = "Enter the product's name"
    body["name"] = form["name"]
    body["description"] = form.raw("description").strip()
    amount = parse_price(form["price"])
    if amount is None:
        errors["price"] = "Enter a price like 12.50"
    else:
        body["price"] = {"amount": amount, "currency": form["currency"] or "USD"}
    if new and form["category"]:
        body["categories"] = [form["category"]]
    return body, errors


@router.get("/products/new")
async def new_product_form(request: Request) -> Response:
    require_admin(request)
    context: dict[str, Any] = {"product": None, "values": {}, "errors": {}}
    return await page(request, "admin/product_form.html", context)


@router.post("/products/new")
async def create_product(request: Request, form: PostedForm) -> Response:
    require_admin(request)
    body, errors = _product_fields(form, new=True)
    if not errors:
        answer = await api_of(request).as_user(
            "catalog", "POST", "/api/catalog/products", json=body
        )
        if answer.status == 201:
            return redirect(f"/admin/products?saved={answer.json()['id']}")
        if answer.status == 409:
            errors["sku"] = "A product with this SKU exists"
        else:
            errors["name"] = "The catalog refused this product: check every field"
    context = {"product": None, "values": form.fields, "errors": errors}
    return await page(request, "admin/product_form.html", context, status=400)


async def _load(request: Request, product_id: UUID) -> dict[str, Any]:
    answer = await api_of(request).call("catalog", "GET", f"/api/catalog/products/{product_id}")
    if answer.status == 404:
        raise HTTPException(404)
    if answer.status != 200:
        raise Problem(503, "The catalog cannot show this product right now")
    product: dict[str, Any] = answer.json()
    return product


@router.get("/products/{product_id}")
async def edit_product_form(request: Request, product_id: UUID) -> Response:
    require_admin(request)
    product = await _load(request, product_id)
    amount = product["price"]["amount"]
    values = {
        "name": product["name"],
        "description": product["description"],
        "price": f"{amount // 100}.{amount % 100:02d}",
        "currency": product["price"]["currency"],
    }
    context = {"product": product, "values": values, "errors": {}}
    return await page(request, "admin/product_form.html", context)


@router.post("/products/{product_id}")
async def update_product(request: Request, product_id: UUID, form: PostedForm) -> Response:
    require_admin(request)
    product = await _load(request, product_id)
    body, errors = _product_fields(form, new=False)
    if not errors:
        answer = await api_of(request).as_user(
            "catalog", "PATCH", f"/api/catalog/products/{product_id}", json=body
        )
        if answer.status == 200:
            return redirect(f"/admin/products?saved={product_id}")
        errors["name"] = "The catalog refused this change: check every field"
    context = {"product": product, "values": form.fields, "errors": errors}
    return await page(request, "admin/product_form.html", context, status=400)


@router.post("/products/{product_id}/delete")
async def delete_product(request: Request, product_id: UUID, _form: PostedForm) -> Response:
    require_admin(request)
    answer = await api_of(request).as_user(
        "catalog", "DELETE", f"/api/catalog/products/{product_id}"
    )
    if answer.status not in (204, 404):
        raise Problem(503, "The product could not be deleted right now")
    return redirect("/admin/products")


@router.get("/stock")
async def stock(request: Request, saved: str = "") -> Response:
    require_admin(request)
    answer = await api_of(request).as_user(
        "inventory", "GET", "/api/inventory/items", params={"limit": 500}
    )
    if answer.status != 200:
        raise Problem(503, "Stock cannot be listed right now")
    context = {"items": answer.json()["items"], "saved": saved, "errors": {}}
    return await page(request, "admin/stock.html", context)


@router.post("/stock/{sku}")
async def set_stock(request: Request, sku: str, form: PostedForm) -> Response:
    require_admin(request)
    if not _SKU.fullmatch(sku):
        raise HTTPException(404)
    on_hand = form["on_hand"]
    if not on_hand.isdigit():
        raise Problem(400, "Stock on hand must be a whole number, 0 or more")
    answer = await api_of(request).as_user(
        "inventory", "PUT", f"/api/inventory/items/{sku}", json={"on_hand": int(on_hand)}
    )
    if answer.status == 409:
        raise Problem(409, f"{sku}: stock on hand cannot go below what is reserved for orders")
    if answer.status != 200:
        raise Problem(503, "The stock could not be changed right now")
    return redirect(f"/admin/stock?saved={sku}")


@router.get("/orders")
async def orders(request: Request) -> Response:
    require_admin(request)
    answer = await api_of(request).as_user(
        "orders", "GET", "/api/orders", params={"scope": "all", "limit": 50}
    )
    if answer.status != 200:
        raise Problem(503, "Orders cannot be listed right now")
    context = {"orders": [order_view(order) for order in answer.json()["items"]]}
    return await page(request, "admin/orders.html", context)
