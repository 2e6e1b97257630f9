"""The payments service: settings, routes, message handlers; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Component, Runtime, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.chassis.messaging import Messaging, Outbox
from emporium.services._own_tables import create_with_chassis
from emporium.services.payments.adapters.orm import metadata, start_mappers
from emporium.services.payments.adapters.processor import SimulatedProcessor
from emporium.services.payments.entrypoints.messages import message_handlers
from emporium.services.payments.entrypoints.routes import router
from emporium.services.payments.service_layer import PaymentsService
from emporium.services.payments.settings import PaymentsSettings


def create_app(
    chassis: ChassisSettings | None = None,
    settings: PaymentsSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    start_mappers()
    create_with_chassis(metadata)
    chassis = chassis or ChassisSettings()
    settings = settings or PaymentsSettings()
    outbox = Outbox(namespace=chassis.broker_namespace)
    processor = SimulatedProcessor(
        latency=settings.latency_ms / 1000, failure_rate=settings.failure_rate
    )
    service = PaymentsService(outbox, processor)

    def components(runtime: Runtime) -> dict[str, Component]:
        runtime.extras["payments"] = service
        messaging = Messaging(
            chassis.broker_url,
            service="payments",
            database=runtime.db,
            handlers=message_handlers(service),
            namespace=chassis.broker_namespace,
            outbox=outbox,
        )
        return {"broker": messaging}

    return create_service(
        "payments",
        routers=[router],
        settings=chassis,
        database_url=settings.resolved_database_url("payments", chassis.var_dir, chassis.profile),
        components=components,
        auth=auth,
    )


def main() -> None:
    serve(create_app())
