"""The catalog service: settings, routes, messaging, and the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.chassis.messaging import Messaging
from emporium.services._own_tables import create_with_chassis
from emporium.services.catalog import admin, routes
from emporium.services.catalog.models import metadata
from emporium.services.catalog.settings import CatalogSettings


def create_app(
    chassis: ChassisSettings | None = None, *, auth: bool | TokenVerifier = True
) -> FastAPI:
    """``auth``: True verifies tokens against identity's JWKS; tests pass a verifier."""
    create_with_chassis(metadata)
    chassis = chassis or ChassisSettings()
    settings = CatalogSettings()
    return create_service(
        "catalog",
        routers=[routes.router, admin.router],
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
        auth=auth,
    )


def main() -> None:
    serve(create_app())
