"""Orders: the history, and the order page that follows the saga live.

The order page asks for a small fragment with htmx while the order can still
change. While it is PENDING the fragment asks again as soon as it is shown,
and the storefront asks orders with a long poll (``?wait=``), so the answer
comes the moment the saga settles the order (orders holds it no longer than
the storefront's API timeout allows); a confirmed order, waiting to ship, is
asked about every second. The fragment for a final state (shipped,
cancelled) has no trigger, so asking stops by itself.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from emporium.chassis import Problem
from emporium.services.storefront.api import Api
from emporium.services.storefront.forms import PostedForm
from emporium.services.storefront.web import (
    api_of,
    cart_count,
    fragment,
    page,
    redirect,
    require_user,
)

__all__ = ["REASONS", "STATUS_WORDS", "order_view", "router"]

router = APIRouter(prefix="/orders", include_in_schema=False)

STATUS_WORDS = {
    "PENDING": "Processing",
    "CONFIRMED": "Confirmed",
    "SHIPPED": "Shipped",
    "CANCELLED": "Cancelled",
}
# What a shopper needs to know about a cancellation, and whether money moved.
REASONS = {
    "OUT_OF_STOCK": "Some items sold out before we could reserve them. You have not been charged.",
    "PAYMENT_DECLINED": "Your card was declined by your bank. You have not been charged; "
    "try another card.",
    "TIMEOUT": "We could not complete your order in time. Any payment has been "
    "cancelled or refunded.",
    "CUSTOMER_CANCELLED": "You cancelled this order. Any payment has been refunded.",
}
FINAL = frozenset({"SHIPPED", "CANCELLED"})
# The long poll's wait (docs/api.md's most); orders cuts it to the call's deadline.
STATUS_WAIT = 10.0
STEPS = ("PENDING", "CONFIRMED", "SHIPPED")


def order_view(order: dict[str, Any]) -> dict[str, Any]:
    """The order with what the templates show: words for codes, the progress steps."""
    reached = {step["status"] for step in order.get("history", [])} | {order["status"]}
    return {
        **order,
        "status_words": STATUS_WORDS.get(order["status"], order["status"].title()),
        "reason_words": REASONS.get(order.get("reason") or "", "")
        if order["status"] == "CANCELLED"
        else "",
        "final": order["status"] in FINAL,
        "steps": [{"status": s, "words": STATUS_WORDS[s], "done": s in reached} for s in STEPS],
        "cancellable": order["status"] in ("PENDING", "CONFIRMED"),
    }


async def _order(api: Api, order_id: UUID, *, wait: float = 0) -> dict[str, Any]:
    params = {"wait": f"{wait:g}"} if wait > 0 else None
    answer = await api.as_user("orders", "GET", f"/api/orders/{order_id}", params=params)
    if answer.status == 404:
        raise HTTPException(404)
    if answer.status != 200:
        raise Problem(503, "Your order cannot be shown right now; please try again")
    order: dict[str, Any] = answer.json()
    return order


@router.get("")
async def history(request: Request) -> Response:
    require_user(request)
    answer = await api_of(request).as_user("orders", "GET", "/api/orders", params={"limit": 50})
    if answer.status != 200:
        raise Problem(503, "Your orders cannot be shown right now; please try again")
    orders = [order_view(order) for order in answer.json()["items"]]
    return await page(request, "orders.html", {"orders": orders})


@router.get("/{order_id}")
async def order_page(request: Request, order_id: UUID) -> Response:
    require_user(request)
    order = order_view(await _order(api_of(request), order_id))
    return await page(request, "order.html", {"order": order})


@router.get("/{order_id}/status")
async def order_status(request: Request, order_id: UUID) -> Response:
    """The live part of the order page, asked for while the order can still change."""
    require_user(request)
    api = api_of(request)
    # Held by orders while PENDING, for no longer than the call's own deadline.
    order = order_view(await _order(api, order_id, wait=STATUS_WAIT))
    context: dict[str, Any] = {"order": order}
    if order["status"] == "CONFIRMED" or order["final"]:
        # The cart empties itself on confirmation: the header badge follows.
        context.update(badge_update=True, cart_count=await cart_count(api))
    return fragment(request, "_order_status.html", context)


@router.post("/{order_id}/cancel")
async def cancel(request: Request, order_id: UUID, _form: PostedForm) -> Response:
    require_user(request)
    answer = await api_of(request).as_user("orders", "POST", f"/api/orders/{order_id}/cancel")
    if answer.status == 409:
        raise Problem(409, "This order can no longer be cancelled: it has already shipped")
    if answer.status != 200:
        raise Problem(503, "The order could not be cancelled right now; please try again")
    return redirect(f"/orders/{order_id}")
