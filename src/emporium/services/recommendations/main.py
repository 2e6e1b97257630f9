"""The recommendations service: a bought-together graph fed by events; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Runtime, create_service, serve
from emporium.services.recommendations.backfill import Backfill, Backfiller
from emporium.services.recommendations.messages import message_handlers
from emporium.services.recommendations.migrations import MIGRATIONS
from emporium.services.recommendations.repository import RecommendationStore
from emporium.services.recommendations.routes import router
from emporium.services.recommendations.settings import RecommendationsSettings
from emporium.services.recommendations.stores import make_store


def create_app(
    chassis: ChassisSettings | None = None, settings: RecommendationsSettings | None = None
) -> FastAPI:
    chassis = chassis or ChassisSettings()
    settings = settings or RecommendationsSettings()
    settings.check(chassis.profile)

    def workers(runtime: Runtime) -> dict[str, object]:
        # After the consumers: nothing published meanwhile falls between the two.
        if not settings.backfill_on_start:
            return {}
        store = runtime.get(RecommendationStore)
        backfill = Backfill.from_settings(store, runtime.db, chassis, settings)
        return {"backfill": Backfiller(backfill, interval=settings.backfill_retry_seconds)}

    return create_service(
        "recommendations",
        chassis=chassis,
        settings=settings,
        routers=[router],
        # The inbox lives in SQL even when the graph lives in Redis.
        migrations=MIGRATIONS,
        handlers=lambda runtime: message_handlers(runtime.get(RecommendationStore)),
        components=lambda runtime: {"store": make_store(settings, runtime.db)},
        workers=workers,
        # Its own routes are public; tokens are verified for the admin routes
        # the chassis adds (its dead letters, listed and replayed).
        auth=True,
    )


def main() -> None:
    serve(create_app())
