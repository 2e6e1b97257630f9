"""The shipping service: settings, routes, handlers, dispatcher; the chassis does the rest."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Component, Runtime, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.chassis.messaging import Messaging, Outbox
from emporium.services._own_tables import create_with_chassis
from emporium.services.shipping.dispatcher import Dispatcher
from emporium.services.shipping.messages import message_handlers
from emporium.services.shipping.routes import router
from emporium.services.shipping.settings import ShippingSettings
from emporium.services.shipping.store import metadata


def create_app(
    chassis: ChassisSettings | None = None,
    settings: ShippingSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    create_with_chassis(metadata)
    chassis = chassis or ChassisSettings()
    settings = settings or ShippingSettings()
    outbox = Outbox(namespace=chassis.broker_namespace)

    def components(runtime: Runtime) -> Mapping[str, Component]:
        messaging = Messaging(
            chassis.broker_url,
            service="shipping",
            database=runtime.db,
            handlers=message_handlers(outbox, delay=settings.dispatch_delay),
            namespace=chassis.broker_namespace,
            outbox=outbox,
        )
        dispatcher = Dispatcher(
            runtime.db,
            outbox,
            interval=settings.dispatch_poll_seconds,
            batch=settings.dispatch_batch,
        )
        # Start order: the broker (relay) is up before anything is dispatched.
        return {"broker": messaging, "dispatcher": dispatcher}

    return create_service(
        "shipping",
        routers=[router],
        settings=chassis,
        database_url=settings.resolved_database_url("shipping", chassis.var_dir, chassis.profile),
        components=components,
        auth=auth,
    )


def main() -> None:
    serve(create_app())
