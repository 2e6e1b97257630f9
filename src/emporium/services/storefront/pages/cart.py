"""The cart and checkout.

Adding, changing and removing lines work as plain forms and, with htmx, swap
only the parts that changed (the line, the totals, the header badge).
Checkout renders a fresh ``Idempotency-Key`` into its form, so a double
click, a resubmit or a retry after a timeout places one order, not two.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from emporium.chassis import Problem
from emporium.services.storefront.api import Api
from emporium.services.storefront.forms import (
    COUNTRIES,
    CheckoutForm,
    PostedForm,
    field_for,
)
from emporium.services.storefront.pages.shop import availability_of
from emporium.services.storefront.web import (
    api_of,
    fragment,
    is_htmx,
    optional,
    page,
    redirect,
    require_user,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

MAX_QUANTITY = 99


async def _cart(api: Api) -> dict[str, Any] | None:
    """The cart, or None when cart cannot answer (the page says so)."""
    answer = await optional(api.as_user("cart", "GET", "/api/cart"), "the cart")
    if answer is None or answer.status != 200:
        return None
    cart: dict[str, Any] = answer.json()
    return cart


async def _quote(api: Api, cart: dict[str, Any], country: str) -> dict[str, Any] | None:
    if not cart["items"]:
        return None
    items = [{"sku": line["sku"], "quantity": line["quantity"]} for line in cart["items"]]
    answer = await optional(
        api.call(
            "shipping", "POST", "/api/shipping/quotes", json={"country": country, "items": items}
        ),
        "the shipping quote",
    )
    if answer is None or answer.status != 200:
        return None
    quote: dict[str, Any] = answer.json()
    return quote


def _count(cart: dict[str, Any] | None) -> int | None:
    return None if cart is None else sum(int(line["quantity"]) for line in cart["items"])


def _quantity(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 <= int(text) <= MAX_QUANTITY else None


@router.get("/cart")
async def cart_page(
    request: Request, country: Annotated[str, Query(max_length=2)] = "US"
) -> Response:
    require_user(request)
    api = api_of(request)
    country = country.upper() if country.upper() in COUNTRIES else "US"
    cart = await _cart(api)
    quote = await _quote(api, cart, country) if cart is not None else None
    context = {"cart": cart, "quote": quote, "country": country, "countries": COUNTRIES}
    if is_htmx(request):
        return fragment(
            request,
            "_cart_body.html",
            {**context, "cart_count": _count(cart), "fragment_badge": True},
        )
    return await page(request, "cart.html", context)


@router.post("/cart/items")
async def add_to_cart(request: Request, form: PostedForm) -> Response:
    """Add ``quantity`` of a product to what the cart already holds."""
    require_user(request)
    api = api_of(request)
    product_id, quantity = form["product_id"], _quantity(form["quantity"] or "1")
    try:
        UUID(product_id)
    except ValueError:
        raise Problem(400, "That product does not exist") from None
    if not quantity:
        raise Problem(400, f"Choose a quantity from 1 to {MAX_QUANTITY}")
    cart = await api.as_user("cart", "GET", "/api/cart")
    if cart.status != 200:
        raise Problem(503, "Your cart is unavailable right now; please try again shortly")
    held = sum(
        line["quantity"] for line in cart.json()["items"] if line["product_id"] == product_id
    )
    answer = await api.as_user(
        "cart",
        "PUT",
        f"/api/cart/items/{product_id}",
        json={"quantity": min(held + quantity, MAX_QUANTITY)},
    )
    if answer.status != 200:
        message = "This product could not be added to your cart"
        if answer.status == 404:
            message = "This product is no longer sold"
        if is_htmx(request):
            return fragment(request, "_added.html", {"error": message}, status=200)
        raise Problem(answer.status if answer.status < 500 else 503, message)
    count = _count(answer.json())
    if is_htmx(request):
        return fragment(request, "_added.html", {"quantity": quantity, "cart_count": count})
    return redirect("/cart")


@router.post("/cart/items/{product_id}")
async def set_quantity(request: Request, product_id: UUID, form: PostedForm) -> Response:
    """Set a line's quantity (0, or the remove button, takes it out)."""
    require_user(request)
    api = api_of(request)
    quantity = 0 if form["action"] == "remove" else _quantity(form["quantity"])
    if quantity is None:
        raise Problem(400, f"Choose a quantity from 0 to {MAX_QUANTITY}")
    if quantity == 0:
        answer = await api.as_user("cart", "DELETE", f"/api/cart/items/{product_id}")
    else:
        answer = await api.as_user(
            "cart", "PUT", f"/api/cart/items/{product_id}", json={"quantity": quantity}
        )
    if answer.status >= 400 and answer.status != 404:
        raise Problem(answer.status, "Your cart could not be changed; please try again")
    if is_htmx(request):
        return await cart_page(request, form["country"] or "US")
    return redirect("/cart")


def _checkout_context(
    cart: dict[str, Any] | None,
    form: CheckoutForm | None,
    stock: dict[str, str],
    general: str = "",
) -> dict[str, Any]:
    return {
        "cart": cart,
        "form": form,
        "errors": form.errors if form else {},
        "stock_errors": stock,
        "general_error": general,
        "countries": COUNTRIES,
        # Made once per render: every submit of this form is the same order.
        "idempotency_key": str(uuid.uuid4()),
    }


async def _stock_problems(api: Api, cart: dict[str, Any]) -> dict[str, str]:
    """Lines the shop already knows it cannot fill, by product id, in words."""
    lines = cart["items"]
    stock = await asyncio.gather(*(availability_of(api, line["sku"]) for line in lines))
    problems: dict[str, str] = {}
    for line, availability in zip(lines, stock, strict=True):
        if not line.get("available", True):
            problems[line["product_id"]] = "This product is no longer sold: remove it"
        elif availability.units is not None and availability.units < line["quantity"]:
            problems[line["product_id"]] = (
                "Out of stock: remove it"
                if availability.units <= 0
                else f"Only {availability.units} left: lower the quantity"
            )
    return problems


@router.get("/checkout")
async def checkout_page(request: Request) -> Response:
    require_user(request)
    api = api_of(request)
    cart = await _cart(api)
    stock = await _stock_problems(api, cart) if cart else {}
    return await page(request, "checkout.html", _checkout_context(cart, None, stock))


@router.post("/checkout")
async def checkout(request: Request, form: PostedForm) -> Response:
    require_user(request)
    api = api_of(request)
    details = CheckoutForm.of(form)
    key = form["idempotency_key"] or str(uuid.uuid4())
    details.validate()
    cart = await _cart(api)
    stock = await _stock_problems(api, cart) if cart else {}
    general = ""
    if cart is not None and not cart["items"]:
        general = "Your cart is empty: add something before checking out"
    if details.errors or stock or general:
        context = _checkout_context(cart, details, stock, general)
        return await page(request, "checkout.html", context, status=400)
    answer = await api.as_user(
        "orders",
        "POST",
        "/api/orders",
        json=details.payload(),
        headers={"Idempotency-Key": key},
        # Safe to retry: the Idempotency-Key makes a repeat the same order.
        idempotent=True,
    )
    if answer.status in (200, 202):
        return redirect(f"/orders/{answer.json()['id']}")
    body = _problem(answer)
    if answer.status == 422:
        for error in body.get("errors", []):
            name = field_for(list(error.get("loc", [])))
            if name:
                details.errors[name] = _sentence(str(error.get("msg", "")))
        if "empty" in str(body.get("detail", "")).lower():
            general = "Your cart is empty: add something before checking out"
        elif not details.errors:
            general = _sentence(str(body.get("detail", "Check the details and try again")))
    elif answer.status == 503:
        general = "Checkout is unavailable for a moment; nothing was charged. Please try again."
    else:
        general = _sentence(str(body.get("detail", "The order could not be placed")))
    context = _checkout_context(cart, details, stock, general)
    return await page(request, "checkout.html", context, status=400)


def _problem(answer: Any) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text
