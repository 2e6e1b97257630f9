"""The shipping service: quotes, shipments, dispatch; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Runtime, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.services.shipping.dispatcher import Dispatcher
from emporium.services.shipping.messages import message_handlers
from emporium.services.shipping.migrations import MIGRATIONS
from emporium.services.shipping.routes import router
from emporium.services.shipping.settings import ShippingSettings


def create_app(
    chassis: ChassisSettings | None = None,
    settings: ShippingSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    chassis = chassis or ChassisSettings()
    settings = settings or ShippingSettings()

    def workers(runtime: Runtime) -> dict[str, object]:
        dispatcher = Dispatcher(
            runtime.db,
            runtime.get_outbox(),
            interval=settings.dispatch_poll_seconds,
            batch=settings.dispatch_batch,
        )
        return {"dispatcher": dispatcher}

    return create_service(
        "shipping",
        chassis=chassis,
        settings=settings,
        routers=[router],
        migrations=MIGRATIONS,
        handlers=lambda runtime: message_handlers(
            runtime.get_outbox(), delay=settings.dispatch_delay
        ),
        workers=workers,
        auth=auth,
    )


def main() -> None:
    serve(create_app())
