"""Orders' HTTP API: checkout, the customer's orders and cancel, the admin audit list."""

from __future__ import annotations

import logging
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from emporium.chassis import Database, Problem, Runtime, deadline
from emporium.chassis.auth import CurrentUser
from emporium.chassis.openapi import Offset
from emporium.chassis.overload import BUDGET
from emporium.chassis.problems import problem_responses
from emporium.services.orders.adapters.repository import OrderRepository
from emporium.services.orders.adapters.upstreams import (
    CardRefusedError,
    PaymentCard,
    UpstreamDownError,
    UpstreamRefusedError,
)
from emporium.services.orders.domain import CannotCancelError, Order, Status
from emporium.services.orders.entrypoints.schemas import OrderOut, OrderPage, PlaceOrderIn
from emporium.services.orders.service_layer import (
    MAX_KEY,
    Checkout,
    CheckoutRefusedError,
    OrderWatch,
    PlaceOrder,
    UnknownOrderError,
)
from emporium.services.orders.service_layer.admission import SagaBacklogFullError
from emporium.services.orders.service_layer.metrics import BACKLOG_REJECTED

logger = logging.getLogger(__name__)

# The longest GET /api/orders/{id}?wait= (docs/api.md), under the gateway's timeout.
MAX_WAIT = 10.0
_ANSWER_MARGIN = 0.5

router = APIRouter(prefix="/api/orders", tags=["orders"])

# The header is documented here, not by FastAPI: it is required (428 without
# it, docs/api.md), which FastAPI could only express as a 422.
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "a fresh UUID per order; the same key returns the same order (200)",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY, "pattern": "\\S"},
}


def _checkout(request: Request) -> Checkout:
    runtime: Runtime = request.app.state.runtime
    return runtime.get(Checkout)


def _database(request: Request) -> Database:
    database: Database = request.app.state.runtime.db
    return database


def _not_found(order_id: UUID) -> Problem:
    return Problem(404, f"No order {order_id}")


@router.post(
    "",
    status_code=202,
    response_model=OrderOut,
    responses={
        200: {"description": "the order this Idempotency-Key created earlier"},
        **problem_responses(409, 422, 428, 503, 504),
    },
    openapi_extra={"parameters": [_IDEMPOTENCY_KEY]},
)
async def place_order(
    request: Request,
    body: PlaceOrderIn,
    user: CurrentUser,
    idempotency_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> JSONResponse:
    command = PlaceOrder(
        user_id=user.user_id,
        authorization=request.headers.get("authorization", ""),
        idempotency_key=idempotency_key,
        shipping_address=body.shipping_address.model_dump(),
        card=PaymentCard(
            number="".join(body.payment.number.split()),
            exp_month=body.payment.exp_month,
            exp_year=body.payment.exp_year,
            cvc=body.payment.cvc,
        ),
    )
    try:
        order, created = await _checkout(request).place(command)
    except CheckoutRefusedError as exc:
        raise Problem(exc.status, exc.detail) from None
    except CardRefusedError as exc:
        # Payments' verdict, relayed with the field it names (never the value).
        loc = ["body", "payment", exc.field] if exc.field else ["body", "payment"]
        raise Problem(
            422,
            exc.detail,
            title="Invalid card",
            errors=[{"loc": loc, "msg": exc.detail, "type": "card"}],
        ) from None
    except UpstreamRefusedError as exc:
        status = 422 if exc.service == "payments" else 409
        raise Problem(status, f"{exc.service} refused the checkout: {exc.detail}") from None
    except SagaBacklogFullError as exc:
        BACKLOG_REJECTED.inc()
        raise Problem(
            503,
            f"Checkout is at capacity ({exc}); no order was created, try again later",
            # The gateway reads the backlog's room at /internal/admission and refuses for us.
            headers={"Retry-After": str(exc.retry_after), BUDGET: "saga-backlog"},
        ) from None
    except deadline.DeadlineExceededError:
        raise Problem(
            504, "The request's deadline passed before the order was created; none was"
        ) from None
    except UpstreamDownError as exc:
        raise Problem(
            503,
            f"Checkout is unavailable: {exc.service} cannot be reached; no order was created",
            headers={"Retry-After": "2"},
        ) from None
    content = OrderOut.of(order).model_dump(mode="json")
    headers = {"Location": f"/api/orders/{order.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(content, status_code=202 if created else 200, headers=headers)


@router.get("", response_model=OrderPage, responses=problem_responses(403))
async def list_orders(
    request: Request,
    user: CurrentUser,
    scope: Literal["mine", "all"] = "mine",
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    offset: Offset = 0,
) -> OrderPage:
    """The customer's orders, newest first; ``scope=all`` (admin) lists everyone's."""
    if scope == "all" and not user.is_admin:
        raise Problem(403, "Only an admin may list every customer's orders")
    owner = None if scope == "all" else user.user_id
    async with _database(request).session() as session:
        orders, total = await OrderRepository(session).page(
            user_id=owner, status=status, limit=limit, offset=offset
        )
        return OrderPage(
            items=[OrderOut.of(order) for order in orders], total=total, limit=limit, offset=offset
        )


@router.get("/{order_id}", response_model=OrderOut, responses=problem_responses(404))
async def get_order(
    request: Request,
    order_id: UUID,
    user: CurrentUser,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT,
            description="seconds to hold the answer while the order is PENDING "
            "(a long poll); it comes as soon as the order leaves PENDING",
        ),
    ] = 0,
) -> OrderOut:
    database = _database(request)

    async def load() -> Order:
        async with database.session() as session:
            order = await OrderRepository(session).get(order_id)
        # Someone else's order is as unknown as a missing one.
        if order is None or (order.user_id != user.user_id and not user.is_admin):
            raise _not_found(order_id)
        return order

    # Never past the caller's deadline: the last read and the answer need a moment.
    if (left := deadline.remaining()) is not None:
        wait = min(wait, left - _ANSWER_MARGIN)
    if wait <= 0:
        return OrderOut.of(await load())
    watch: OrderWatch = request.app.state.runtime.get(OrderWatch)
    order = await watch.wait(order_id, load, _settled, wait)
    return OrderOut.of(order)


def _settled(order: Order) -> bool:
    return order.status != Status.PENDING


@router.post("/{order_id}/cancel", response_model=OrderOut, responses=problem_responses(404, 409))
async def cancel_order(
    request: Request, order_id: UUID, user: CurrentUser, response: Response
) -> OrderOut:
    try:
        order = await _checkout(request).cancel(order_id, user.user_id)
    except UnknownOrderError:
        raise _not_found(order_id) from None
    except CannotCancelError as exc:
        raise Problem(409, f"The order cannot be cancelled: {exc}") from None
    response.headers["Location"] = f"/api/orders/{order.id}"
    return OrderOut.of(order)
