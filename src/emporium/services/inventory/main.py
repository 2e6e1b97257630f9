"""The inventory service: stock per SKU and reservations; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Runtime, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.chassis.read_model import ReadModel
from emporium.services.inventory.adapters.orm import start_mappers
from emporium.services.inventory.entrypoints.messages import message_handlers
from emporium.services.inventory.entrypoints.routes import router, stock_read_model
from emporium.services.inventory.entrypoints.sweeper import ExpirySweeper
from emporium.services.inventory.migrations import MIGRATIONS
from emporium.services.inventory.service_layer import InventoryService, SqlInventoryUnitOfWork
from emporium.services.inventory.settings import InventorySettings


def create_app(
    chassis: ChassisSettings | None = None,
    settings: InventorySettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    start_mappers()
    chassis = chassis or ChassisSettings()
    settings = settings or InventorySettings()
    service = InventoryService(
        reservation_ttl=settings.reservation_ttl,
        initial_stock=settings.resolved_initial_stock(chassis.profile),
    )

    def workers(runtime: Runtime) -> dict[str, object]:
        sweeper = ExpirySweeper(
            service,
            runtime.db,
            interval=settings.sweep_interval_seconds,
            batch=settings.sweep_batch,
        )
        return {"sweeper": sweeper}

    return create_service(
        "inventory",
        chassis=chassis,
        settings=settings,
        routers=[router],
        migrations=MIGRATIONS,
        unit_of_work=SqlInventoryUnitOfWork,
        handlers=lambda _runtime: message_handlers(service),
        components=lambda runtime: {
            "inventory": service,
            "read_model": stock_read_model(
                runtime.get_outbox(),
                ttl=settings.read_model_ttl,
                max_entries=settings.read_model_entries,
            ),
        },
        # Every replica hears every StockChanged, so its read model forgets
        # the SKU another replica's write changed.
        listeners=lambda runtime: runtime.get(ReadModel).listeners(),
        workers=workers,
        auth=auth,
    )


def main() -> None:
    serve(create_app())
