"""The inventory service: settings, routes, message handlers, sweeper; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Component, Runtime, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.chassis.messaging import Messaging, Outbox
from emporium.services._own_tables import create_with_chassis
from emporium.services.inventory.adapters.orm import metadata, start_mappers
from emporium.services.inventory.entrypoints.messages import message_handlers
from emporium.services.inventory.entrypoints.routes import router
from emporium.services.inventory.entrypoints.sweeper import ExpirySweeper
from emporium.services.inventory.service_layer import InventoryService
from emporium.services.inventory.settings import InventorySettings


def create_app(
    chassis: ChassisSettings | None = None,
    settings: InventorySettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    start_mappers()
    create_with_chassis(metadata)
    chassis = chassis or ChassisSettings()
    settings = settings or InventorySettings()
    outbox = Outbox(namespace=chassis.broker_namespace)
    service = InventoryService(
        outbox,
        reservation_ttl=settings.reservation_ttl,
        initial_stock=settings.resolved_initial_stock(chassis.profile),
    )

    def components(runtime: Runtime) -> dict[str, Component]:
        runtime.extras["inventory"] = service
        messaging = Messaging(
            chassis.broker_url,
            service="inventory",
            database=runtime.db,
            handlers=message_handlers(service),
            namespace=chassis.broker_namespace,
            outbox=outbox,
        )
        sweeper = ExpirySweeper(
            service,
            runtime.db,
            interval=settings.sweep_interval_seconds,
            batch=settings.sweep_batch,
        )
        return {"broker": messaging, "sweeper": sweeper}

    return create_service(
        "inventory",
        routers=[router],
        settings=chassis,
        database_url=settings.resolved_database_url("inventory", chassis.var_dir, chassis.profile),
        components=components,
        auth=auth,
    )


def main() -> None:
    serve(create_app())
