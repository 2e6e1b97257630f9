"""The notifications service: settings, routes, handlers, optional mailer; chassis does the rest."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Component, Runtime, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.chassis.messaging import Messaging
from emporium.services.notifications.handlers import handlers
from emporium.services.notifications.mailer import SmtpMailer
from emporium.services.notifications.routes import router
from emporium.services.notifications.settings import NotificationsSettings


def create_app(
    chassis: ChassisSettings | None = None,
    settings: NotificationsSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
    chassis = chassis or ChassisSettings()
    settings = settings or NotificationsSettings()
    mailer = None
    if settings.smtp_url:
        mailer = SmtpMailer(
            settings.smtp_url,
            sender=settings.smtp_from,
            recipient=settings.smtp_recipient,
            timeout=settings.smtp_timeout_seconds,
            require_tls=settings.smtp_require_tls,
        )

    def components(runtime: Runtime) -> Mapping[str, Component]:
        found: dict[str, Component] = {}
        if mailer is not None:
            found["mailer"] = mailer  # stopped last: sends started by handlers finish
        found["broker"] = Messaging(
            chassis.broker_url,
            service="notifications",
            database=runtime.db,
            handlers=handlers(mailer),
            namespace=chassis.broker_namespace,
        )
        return found

    database_url = settings.resolved_database_url("notifications", chassis.var_dir, chassis.profile)
    return create_service(
        "notifications",
        routers=[router],
        settings=chassis,
        database_url=database_url,
        components=components,
        auth=auth,
    )


def main() -> None:
    serve(create_app())
