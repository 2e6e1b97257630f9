"""The catalog service: settings, routes, messaging, and the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, create_service, serve
from emporium.chassis.messaging import Messaging
from emporium.services.catalog.routes import router
from emporium.services.catalog.settings import CatalogSettings


def create_app(chassis: ChassisSettings | None = None) -> FastAPI:
    chassis = chassis or ChassisSettings()
    settings = CatalogSettings()
    return create_service(
        "catalog",
        routers=[router],
        settings=chassis,
        database_url=settings.resolved_database_url("catalog", chassis.var_dir, chassis.profile),
        components=lambda rt: {
            "broker": Messaging(
                chassis.broker_url,
                service="catalog",
                database=rt.db,
                namespace=chassis.broker_namespace,
            )
        },
    )


def main() -> None:
    serve(create_app())
