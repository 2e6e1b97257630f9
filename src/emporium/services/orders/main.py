"""The orders service: settings, routes, saga handlers, sweeper; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Component, Runtime, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.chassis.messaging import Messaging, Outbox
from emporium.services._own_tables import create_with_chassis
from emporium.services.orders.adapters.orm import metadata, start_mappers
from emporium.services.orders.adapters.upstreams import Upstreams
from emporium.services.orders.entrypoints.messages import message_handlers
from emporium.services.orders.entrypoints.routes import router
from emporium.services.orders.entrypoints.sweeper import DeadlineSweeper
from emporium.services.orders.service_layer import Checkout, Saga
from emporium.services.orders.settings import OrdersSettings


def create_app(
    chassis: ChassisSettings | None = None,
    settings: OrdersSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    start_mappers()
    create_with_chassis(metadata)
    chassis = chassis or ChassisSettings()
    settings = settings or OrdersSettings()
    hash_key = settings.resolved_request_hash_key(chassis.profile)
    outbox = Outbox(namespace=chassis.broker_namespace)
    saga = Saga(outbox, step_timeout=settings.step_timeout)

    def components(runtime: Runtime) -> dict[str, Component]:
        upstreams = Upstreams.at(
            settings.upstream(chassis, "cart"),
            settings.upstream(chassis, "shipping"),
            settings.upstream(chassis, "payments"),
            timeout=settings.upstream_timeout_seconds,
        )
        runtime.extras["checkout"] = Checkout(
            runtime.db, upstreams, outbox, hash_key=hash_key, step_timeout=settings.step_timeout
        )
        messaging = Messaging(
            chassis.broker_url,
            service="orders",
            database=runtime.db,
            handlers=message_handlers(saga),
            namespace=chassis.broker_namespace,
            outbox=outbox,
        )
        sweeper = DeadlineSweeper(
            saga, runtime.db, interval=settings.sweep_interval_seconds, batch=settings.sweep_batch
        )
        return {"upstreams": upstreams, "broker": messaging, "sweeper": sweeper}

    return create_service(
        "orders",
        routers=[router],
        settings=chassis,
        database_url=settings.resolved_database_url("orders", chassis.var_dir, chassis.profile),
        components=components,
        auth=auth,
    )


def main() -> None:
    serve(create_app())
