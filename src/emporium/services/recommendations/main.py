"""The recommendations service: a bought-together graph fed by events; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Runtime, create_service, serve
from emporium.chassis.read_model import ReadModel
from emporium.services.recommendations.backfill import Backfill, Backfiller
from emporium.services.recommendations.messages import CHANGES, message_handlers
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
        answers = runtime.get(ReadModel)
        backfill = Backfill.from_settings(
            store, runtime.db, chassis, settings, changed=answers.invalidate
        )
        return {"backfill": Backfiller(backfill, interval=settings.backfill_retry_seconds)}

    return create_service(
        "recommendations",
        chassis=chassis,
        settings=settings,
        routers=[router],
        # The inbox lives in SQL even when the graph lives in Redis.
        migrations=MIGRATIONS,
        handlers=lambda runtime: message_handlers(
            runtime.get(RecommendationStore), changed=runtime.get(ReadModel).invalidate
        ),
        components=lambda runtime: {
            "store": make_store(settings, runtime.db),
            # Answers as encoded bytes. This replica's writes clear it as they
            # commit; every replica also hears each event that changes an
            # answer (a listener), which covers the writes of the replica
            # that consumed it, up to ``ttl`` for a read made between the
            # event's arrival and that replica's commit.
            "read_model": ReadModel(
                events=CHANGES,
                ttl=settings.read_model_ttl,
                max_entries=settings.read_model_entries,
            ),
        },
        listeners=lambda runtime: runtime.get(ReadModel).listeners(),
        workers=workers,
        # Its own routes are public; tokens are verified for the admin routes
        # the chassis adds (its dead letters, listed and replayed).
        auth=True,
    )


def main() -> None:
    serve(create_app())
