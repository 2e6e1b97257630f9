"""Admin views of the saga: recent orders as timelines; compensating or retrying a stuck one.

A saga is *stuck* when it is still PENDING past its step's deadline: the
sweeper will time it out on its next pass; an operator may do it now, which
compensates exactly as a timeout does (refund or void, release stock), or
retry it, which sends the step's command again and gives it one more step timeout.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from emporium.chassis import Database, Problem, utcnow
from emporium.chassis.auth import AdminUser
from emporium.chassis.db import transactionally
from emporium.chassis.problems import problem_responses
from emporium.services.orders.adapters.repository import OrderRepository
from emporium.services.orders.domain import Order, Status
from emporium.services.orders.service_layer import Saga, SqlOrdersUnitOfWork
from emporium.services.orders.service_layer.publishing import publish_recorded

__all__ = ["router"]

router = APIRouter(prefix="/api/orders/admin/sagas", tags=["operations"])


def _timeline(order: Order, now: Any) -> dict[str, Any]:
    stuck = order.status == Status.PENDING and order.deadline is not None and order.deadline < now
    return {
        "order_id": str(order.id),
        "status": str(order.status),
        "reason": order.reason or None,
        "step": str(order.step),
        "deadline": order.deadline.isoformat() if order.deadline else None,
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
        "stuck": stuck,
        "awaiting": list(order.awaiting()),
        "steps": [
            {"status": str(h.status), "at": h.at.isoformat(), "reason": h.reason or None}
            for h in order.history
        ],
    }


@router.get("")
async def recent_sagas(
    request: Request,
    _admin: AdminUser,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    status: Annotated[Status | None, Query()] = None,
) -> JSONResponse:
    """The latest sagas, newest first, each with its steps and whether it is stuck."""
    database: Database = request.app.state.runtime.db
    now = utcnow()
    async with database.session() as session:
        orders, total = await OrderRepository(session).page(
            user_id=None, status=status, limit=limit, offset=0
        )
        return JSONResponse({"items": [_timeline(o, now) for o in orders], "total": total})


@router.post("/{order_id}/compensate", responses=problem_responses(404, 409))
async def compensate(request: Request, order_id: UUID, _admin: AdminUser) -> JSONResponse:
    """Time a stuck saga out now: its compensations go out through the outbox."""
    runtime = request.app.state.runtime
    saga: Saga = runtime.get(Saga)
    database: Database[SqlOrdersUnitOfWork] = runtime.db

    async def time_out(uow: SqlOrdersUnitOfWork) -> dict[str, Any]:
        order = await uow.orders.get(order_id)
        if order is None:
            raise Problem(404, f"no order {order_id}")
        now = saga.clock()
        if order.status != Status.PENDING or order.deadline is None or order.deadline >= now:
            raise Problem(409, "Only a stuck saga (PENDING past its deadline) is compensated")
        order.time_out(now)
        await publish_recorded(uow, order)
        await uow.flush()  # a reply that changed the order meanwhile is a lost race: again
        if saga.watch is not None:
            saga.watch.after_commit(uow, order.id)
        return _timeline(order, now)

    # A saga reply may update the order between the read and the write: decide again.
    return JSONResponse(await transactionally(database.unit_of_work, time_out))


@router.post("/{order_id}/retry", responses=problem_responses(404, 409))
async def retry(request: Request, order_id: UUID, _admin: AdminUser) -> JSONResponse:
    """Send a PENDING saga's current command again; its deadline moves one step on."""
    runtime = request.app.state.runtime
    saga: Saga = runtime.get(Saga)
    database: Database[SqlOrdersUnitOfWork] = runtime.db

    async def retry_step(uow: SqlOrdersUnitOfWork) -> dict[str, Any]:
        retried = await saga.retry(order_id, uow)  # flushes: a lost race raises here
        if retried is None:
            raise Problem(404, f"no order {order_id}")
        if not retried:
            raise Problem(409, "Only a PENDING saga is retried")
        order = await uow.orders.get(order_id)  # the one just retried, from the session
        assert order is not None
        return _timeline(order, saga.clock())

    # A saga reply may update the order between the read and the write: decide again.
    return JSONResponse(await transactionally(database.unit_of_work, retry_step))
