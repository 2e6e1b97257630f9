"""Cart's HTTP API: the caller's own cart only; there is no cart id to guess."""

from __future__ import annotations

import time
from uuid import UUID

from fastapi import APIRouter, Request, Response

from emporium.chassis import Problem, Runtime
from emporium.chassis.auth import CurrentUser
from emporium.chassis.problems import problem_responses
from emporium.services.cart.catalog import CatalogClient
from emporium.services.cart.domain import CartLine, WrongCurrencyError, check_currency
from emporium.services.cart.repository import CartRepository
from emporium.services.cart.schemas import CartOut, QuantityIn
from emporium.services.cart.settings import CartSettings

router = APIRouter(prefix="/api/cart", tags=["cart"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _carts(request: Request) -> CartRepository:
    return _runtime(request).get(CartRepository)


def _catalog(request: Request) -> CatalogClient:
    return _runtime(request).get(CatalogClient)


def _max_lines(request: Request) -> int:
    return _runtime(request).get(CartSettings).max_lines


@router.get("", response_model=CartOut)
async def get_cart(request: Request, user: CurrentUser) -> CartOut:
    return CartOut.of(await _carts(request).get(user.user_id))


@router.put(
    "/items/{product_id}", response_model=CartOut, responses=problem_responses(404, 422, 502)
)
async def set_item(
    request: Request, user: CurrentUser, product_id: UUID, body: QuantityIn
) -> CartOut:
    """Set how many units of a product the cart holds (0 removes the line).

    The product's name, SKU and price are taken from catalog now; later price
    changes and deletions arrive as events.
    """
    carts = _carts(request)
    if body.quantity == 0:
        # Removing never needs catalog, so it works while catalog is down.
        await carts.remove_line(user.user_id, product_id)
        return CartOut.of(await carts.get(user.user_id))
    product = await _catalog(request).product(product_id)
    if product is None:
        raise Problem(404, f"No product with id {product_id}")
    try:
        check_currency(product.currency)
    except WrongCurrencyError as exc:
        raise Problem(422, str(exc)) from None
    line = CartLine(
        product_id=product_id,
        sku=product.sku,
        name=product.name,
        quantity=body.quantity,
        unit_price=product.unit_price,
        currency=product.currency,
        added_at=int(time.time() * 1000),
    )
    limit = _max_lines(request)
    if not await carts.put_line(user.user_id, line, max_lines=limit):
        raise Problem(422, f"A cart holds at most {limit} different products")
    return CartOut.of(await carts.get(user.user_id))


@router.delete("/items/{product_id}", status_code=204, response_class=Response)
async def remove_item(request: Request, user: CurrentUser, product_id: UUID) -> Response:
    await _carts(request).remove_line(user.user_id, product_id)
    return Response(status_code=204)


@router.delete("", status_code=204, response_class=Response)
async def empty_cart(request: Request, user: CurrentUser) -> Response:
    await _carts(request).clear(user.user_id)
    return Response(status_code=204)
