"""The catalog service: products, categories, prices, search; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.services.catalog import admin, routes
from emporium.services.catalog.migrations import MIGRATIONS
from emporium.services.catalog.settings import CatalogSettings


def create_app(
    chassis: ChassisSettings | None = None,
    settings: CatalogSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    return create_service(
        "catalog",
        chassis=chassis,
        settings=settings or CatalogSettings(),
        routers=[routes.router, admin.router],
        migrations=MIGRATIONS,
        publishes=True,
        auth=auth,
    )


def main() -> None:
    serve(create_app())
