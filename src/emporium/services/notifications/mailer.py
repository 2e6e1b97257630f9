"""The optional SMTP sender: mails a stored message once its transaction commits."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.services.notifications.store import Notification

__all__ = ["SmtpMailer"]

logger = logging.getLogger(__name__)

_PENDING = "emporium.notifications.mail"


class SmtpMailer:
    """A chassis component that sends stored messages by SMTP, best effort.

    Promise: a message is mailed only after the transaction that stored it
    commits (never for a rollback), in a worker thread so the event loop never
    waits on a mail server. A failed send is logged and not retried; the stored
    message, which the customer reads through the API, is unaffected.
    :meth:`stop` waits (boundedly) for sends in flight.
    """

    def __init__(self, url: str, *, sender: str, recipient: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError(
                f"EMPORIUM_NOTIFICATIONS_SMTP_URL must look like smtp://host:port, got {url!r}"
            )
        self.ssl = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.ssl else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.recipient = recipient
        self.timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.timeout)

    async def ready(self) -> bool:
        # A mail server being down must not take the service out of rotation:
        # messages are stored and readable without it.
        return True

    def send_after_commit(self, session: AsyncSession, notification: Notification) -> None:
        """Queue ``notification`` to be mailed once ``session``'s transaction commits."""
        loop = asyncio.get_running_loop()
        sync_session = session.sync_session
        pending: list[Notification] | None = sync_session.info.get(_PENDING)
        if pending is not None:
            pending.append(notification)
            return
        sync_session.info[_PENDING] = [notification]

        def after_commit(_session: Any) -> None:
            for item in sync_session.info.pop(_PENDING, []):
                task = loop.create_task(self._send(item))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        def after_rollback(_session: Any, _transaction: Any) -> None:
            sync_session.info.pop(_PENDING, None)

        event.listen(sync_session, "after_commit", after_commit, once=True)
        event.listen(sync_session, "after_soft_rollback", after_rollback, once=True)

    async def _send(self, notification: Notification) -> None:
        try:
            await asyncio.to_thread(self._send_blocking, notification)
        except Exception as exc:
            logger.warning(
                "mailing notification %s failed: %s: %s",
                notification.id,
                type(exc).__name__,
                exc,
            )
        else:
            logger.info("notification %s mailed", notification.id)

    def _send_blocking(self, notification: Notification) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = self.recipient.format(user_id=notification.user_id)
        mail["Subject"] = notification.subject
        mail["Message-ID"] = f"<{notification.id}@emporium.notifications>"
        mail.set_content(notification.body)
        client_class = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
        with client_class(self.host, self.port, timeout=self.timeout) as client:
            if self.username and self.password:
                client.login(self.username, self.password)
            client.send_message(mail)
