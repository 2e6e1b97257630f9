"""The inventory service: settings, routes, message handlers; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, create_service, serve
from emporium.chassis.messaging import Handler, Messaging
from emporium.contracts import Message
from emporium.contracts.catalog import ProductCreated
from emporium.services.inventory.handlers import on_product_created
from emporium.services.inventory.routes import router
from emporium.services.inventory.settings import InventorySettings


def create_app(chassis: ChassisSettings | None = None) -> FastAPI:
    chassis = chassis or ChassisSettings()
    settings = InventorySettings()
    initial_stock = settings.resolved_initial_stock(chassis.profile)
    handlers: dict[type[Message], Handler] = {ProductCreated: on_product_created(initial_stock)}
    return create_service(
        "inventory",
        routers=[router],
        settings=chassis,
        database_url=settings.resolved_database_url("inventory", chassis.var_dir, chassis.profile),
        components=lambda rt: {
            "broker": Messaging(
                chassis.broker_url,
                service="inventory",
                database=rt.db,
                handlers=handlers,
                namespace=chassis.broker_namespace,
            )
        },
    )


def main() -> None:
    serve(create_app())
