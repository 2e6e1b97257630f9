"""The recommendations service: settings, store, routes, handlers, backfill; the chassis does
the rest."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Component, Runtime, create_service, serve
from emporium.chassis.messaging import Messaging
from emporium.services.recommendations.backfill import Backfill, Backfiller
from emporium.services.recommendations.handlers import handlers
from emporium.services.recommendations.routes import router
from emporium.services.recommendations.settings import RecommendationsSettings
from emporium.services.recommendations.stores import make_store


def create_app(
    chassis: ChassisSettings | None = None, settings: RecommendationsSettings | None = None
) -> FastAPI:
    chassis = chassis or ChassisSettings()
    settings = settings or RecommendationsSettings()
    settings.check(chassis.profile)

    def components(runtime: Runtime) -> Mapping[str, Component]:
        store = make_store(settings, runtime.db)
        # Insertion order is start order: the store, then the consumers, then
        # the backfill, so nothing published meanwhile falls between the two.
        found: dict[str, Component] = {
            "store": store,
            "broker": Messaging(
                chassis.broker_url,
                service="recommendations",
                database=runtime.db,
                handlers=handlers(store),
                namespace=chassis.broker_namespace,
            ),
        }
        if settings.backfill_on_start:
            backfill = Backfill.from_settings(store, runtime.db, chassis, settings)
            found["backfill"] = Backfiller(backfill, interval=settings.backfill_retry_seconds)
        return found

    return create_service(
        "recommendations",
        routers=[router],
        settings=chassis,
        database_url=settings.resolved_database_url(
            "recommendations", chassis.var_dir, chassis.profile
        ),
        components=components,
    )


def main() -> None:
    serve(create_app())
