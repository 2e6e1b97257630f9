"""The notifications service: one message per event, optionally mailed; chassis does the rest."""

from __future__ import annotations

from fastapi import FastAPI

from emporium.chassis import ChassisSettings, create_service, serve
from emporium.chassis.auth import TokenVerifier
from emporium.services.notifications.mailer import SmtpMailer
from emporium.services.notifications.messages import message_handlers
from emporium.services.notifications.migrations import MIGRATIONS
from emporium.services.notifications.routes import router
from emporium.services.notifications.settings import NotificationsSettings


def create_app(
    chassis: ChassisSettings | None = None,
    settings: NotificationsSettings | None = None,
    *,
    auth: bool | TokenVerifier = True,
) -> FastAPI:
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
    return create_service(
        "notifications",
        chassis=chassis,
        settings=settings,
        routers=[router],
        migrations=MIGRATIONS,
        handlers=lambda _runtime: message_handlers(mailer),
        # Messaging stops before components, so sends that handlers started finish.
        components=lambda _runtime: {"mailer": mailer} if mailer else {},
        auth=auth,
    )


def main() -> None:
    serve(create_app())
