"""The payments service: intents on a simulated card processor; the chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.services.payments.adapters.orm import start_mappers
from emporium.services.payments.adapters.processor import SimulatedProcessor
from emporium.services.payments.entrypoints.messages import message_handlers
from emporium.services.payments.entrypoints.routes import router
from emporium.services.payments.migrations import MIGRATIONS
from emporium.services.payments.service_layer import PaymentsService, SqlPaymentsUnitOfWork
from emporium.services.payments.settings import PaymentsSettings


def create_app(
    chassis: ChassisSettings | None = None,
    settings: PaymentsSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    start_mappers()
    chassis = chassis or ChassisSettings()
    settings = settings or PaymentsSettings()
    processor = SimulatedProcessor(
        latency=settings.latency_ms / 1000, failure_rate=settings.failure_rate
    )
    return create_service(
        "payments",
        chassis=chassis,
        settings=settings,
        routers=[router],
        migrations=MIGRATIONS,
        unit_of_work=SqlPaymentsUnitOfWork,
        handlers=lambda runtime: message_handlers(runtime.get(PaymentsService)),
        components=lambda _runtime: {"payments": PaymentsService(processor)},
        auth=auth,
    )


def main() -> None:
    serve(create_app())
