"""The orders service: orders and the checkout saga; the chassis does the rest."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Runtime, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.chassis.overload import Budget
from emporium.services.orders.adapters.orm import start_mappers
from emporium.services.orders.adapters.upstreams import Upstreams
from emporium.services.orders.entrypoints.admin import router as admin_router
from emporium.services.orders.entrypoints.backlog import BacklogProbe
from emporium.services.orders.entrypoints.messages import message_handlers
from emporium.services.orders.entrypoints.routes import router
from emporium.services.orders.entrypoints.sweeper import DeadlineSweeper
from emporium.services.orders.migrations import MIGRATIONS
from emporium.services.orders.service_layer import (
    Checkout,
    OrderWatch,
    Saga,
    SqlOrdersUnitOfWork,
)
from emporium.services.orders.service_layer.admission import SagaBacklog
from emporium.services.orders.settings import OrdersSettings

CHECKOUT = "POST /api/orders"


def create_app(
    chassis: ChassisSettings | None = None,
    settings: OrdersSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    start_mappers()
    chassis = chassis or ChassisSettings()
    settings = settings or OrdersSettings()
    hash_key = settings.resolved_request_hash_key(chassis.profile)
    admission = (
        SagaBacklog(
            budget=settings.saga_admission_budget_seconds,
            min_pending=settings.saga_admission_min_pending,
        )
        if settings.saga_admission_budget_seconds > 0
        else None
    )

    def components(runtime: Runtime) -> dict[str, object]:
        watch = OrderWatch(recheck=settings.status_wait_recheck_seconds)
        runtime.when_draining(watch.close)
        saga = Saga(step_timeout=settings.step_timeout, watch=watch)
        upstreams = Upstreams.at(
            settings.route(chassis, "cart"),
            settings.route(chassis, "shipping"),
            settings.route(chassis, "payments"),
            timeout=settings.upstream_timeout_seconds,
        )
        checkout = Checkout(
            runtime.db.unit_of_work,
            upstreams,
            hash_key=hash_key,
            step_timeout=settings.step_timeout,
            admission=admission,
            watch=watch,
        )
        return {"saga": saga, "upstreams": upstreams, "checkout": checkout, "watch": watch}

    def workers(runtime: Runtime) -> dict[str, object]:
        sweeper = DeadlineSweeper(
            runtime.get(Saga),
            runtime.db,
            interval=settings.sweep_interval_seconds,
            batch=settings.sweep_batch,
        )
        if admission is None:
            return {"sweeper": sweeper}
        probe = BacklogProbe(
            admission,
            runtime.db,
            interval=settings.saga_admission_probe_seconds,
            window=settings.saga_admission_window_seconds,
            # A saga has three steps, each with its own deadline.
            horizon=3 * settings.step_timeout + timedelta(seconds=60),
        )
        return {"sweeper": sweeper, "backlog": probe}

    return create_service(
        "orders",
        chassis=chassis,
        settings=settings,
        routers=[router, admin_router],
        migrations=MIGRATIONS,
        unit_of_work=SqlOrdersUnitOfWork,
        handlers=lambda runtime: message_handlers(runtime.get(Saga)),
        components=components,
        workers=workers,
        auth=auth,
        # The adaptive limit guards checkout, the one route that starts work
        # the whole system then has to finish.
        admission={CHECKOUT: "checkout"},
        # The saga backlog's room, so the gateway refuses checkouts for it while there is none.
        budgets=(
            (lambda: {CHECKOUT: Budget(admission.free, admission.retry_after)})
            if admission is not None
            else None
        ),
    )


def main() -> None:
    serve(create_app())
