"""The catalog service: products, categories, prices, search; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.services.catalog import admin, routes
from emporium.services.catalog.migrations import MIGRATIONS
from emporium.services.catalog.read_model import ReadModel
from emporium.services.catalog.settings import CatalogSettings


def create_app(
    chassis: ChassisSettings | None = None,
    settings: CatalogSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    settings = settings or CatalogSettings()
    ttl, entries = settings.read_model_ttl, settings.read_model_entries
    return create_service(
        "catalog",
        chassis=chassis,
        settings=settings,
        routers=[routes.router, admin.router],
        migrations=MIGRATIONS,
        publishes=True,
        components=lambda runtime: {
            "read_model": ReadModel(runtime.get_outbox(), ttl=ttl, max_entries=entries)
        },
        # Every replica hears every product event, so its read model forgets
        # what another replica's write changed.
        listeners=lambda runtime: runtime.get(ReadModel).listeners(),
        auth=auth,
    )


def main() -> None:
    serve(create_app())
