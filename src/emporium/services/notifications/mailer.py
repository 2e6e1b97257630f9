"""The optional SMTP sender: mails a stored message once its transaction commits.

Transport security: ``smtps://`` is TLS from the first byte; ``smtp://`` is
upgraded with STARTTLS whenever the server offers it, and with
``require_tls`` a server that does not offer it gets no mail. Credentials are
never sent over a connection that is not encrypted, and a URL is never echoed
with its password (:func:`mask_url`).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.services.notifications.store import Notification

__all__ = ["SmtpMailer", "mask_url"]

logger = logging.getLogger(__name__)

_PENDING = "emporium.notifications.mail"


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, fit for logs and errors."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        netloc = f"{user}:***@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "<an unparsable URL>"


class InsecureTransport(RuntimeError):
    """The server would not encrypt the connection, and this mail needs it."""


class SmtpMailer:
    """A chassis component that sends stored messages by SMTP, best effort.

    Promise: a message is mailed only after the transaction that stored it
    commits (never for a rollback), in a worker thread so the event loop never
    waits on a mail server. A failed send is logged and not retried; the stored
    message, which the customer reads through the API, is unaffected.
    :meth:`stop` waits (boundedly) for sends in flight.
    """

    def __init__(
        self,
        url: str,
        *,
        sender: str,
        recipient: str,
        timeout: float = 10.0,
        require_tls: bool = False,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        try:
            parts = urlsplit(url)
            valid = parts.scheme in {"smtp", "smtps"} and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            valid = False
        if not valid:
            raise ValueError(
                "EMPORIUM_NOTIFICATIONS_SMTP_URL must look like smtp://[user:password@]host:port "
                f"or smtps://..., got {mask_url(url)!r}"
            )
        self.ssl = parts.scheme == "smtps"
        self.host: str = parts.hostname or ""
        self.port = parts.port or (465 if self.ssl else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.recipient = recipient
        self.timeout = timeout
        self.require_tls = require_tls
        self.tls_context = tls_context or ssl.create_default_context()
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
        if self.ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.tls_context
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            encrypted = self.ssl
            if not encrypted:
                client.ehlo()
                if client.has_extn("starttls"):
                    client.starttls(context=self.tls_context)
                    client.ehlo()
                    encrypted = True
            if not encrypted and self.require_tls:
                raise InsecureTransport("the SMTP server does not offer STARTTLS")
            if self.username and self.password:
                if not encrypted:
                    raise InsecureTransport("refusing to send SMTP credentials unencrypted")
                client.login(self.username, self.password)
            client.send_message(mail)
