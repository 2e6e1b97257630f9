"""The optional SMTP sender, against a tiny local SMTP sink (aiosmtpd is not installed).

A message is mailed only after its transaction commits; a mail server that is
down costs the mail, never the stored message.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi import FastAPI

from emporium.chassis import ChassisSettings, Database
from emporium.chassis.testing import TokenFactory
from emporium.contracts.money import Money
from emporium.contracts.orders import OrderConfirmed
from emporium.launcher.nats import EmbeddedNats
from emporium.services.notifications.mailer import SmtpMailer
from emporium.services.notifications.main import create_app
from emporium.services.notifications.messages import message_handlers
from emporium.services.notifications.settings import NotificationsSettings
from emporium.services.notifications.store import NotificationRepository
from emporium.services.notifications.store import metadata as notifications_tables
from tests._poll import eventually_async
from tests.integration._services import chassis_settings, running, unique_namespace
from tests.integration.test_notifications_service import deliver_twice, publisher


class SmtpSink:
    """Just enough SMTP to accept mail from smtplib and keep it."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        data: list[bytes] | None = None
        while line := await reader.readline():
            if data is not None:
                if line.rstrip(b"\r\n") == b".":
                    parsed = email.message_from_bytes(b"".join(data), policy=email.policy.default)
                    assert isinstance(parsed, EmailMessage)
                    self.mails.append(parsed)
                    data = None
                    writer.write(b"250 queued\r\n")
                else:
                    data.append(line[1:] if line.startswith(b"..") else line)
            elif line[:4].upper() == b"DATA":
                data = []
                writer.write(b"354 end with .\r\n")
            elif line[:4].upper() == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()
        await writer.wait_closed()


@pytest.fixture
async def sink() -> AsyncIterator[tuple[SmtpSink, int]]:
    smtp = SmtpSink()
    server = await asyncio.start_server(smtp.handle, "127.0.0.1", 0)
    async with server:
        yield smtp, server.sockets[0].getsockname()[1]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}")
    await database.create_all(notifications_tables)
    yield database
    await database.dispose()


def _mailer(port: int) -> SmtpMailer:
    return SmtpMailer(
        f"smtp://127.0.0.1:{port}",
        sender="Emporium <orders@emporium.local>",
        recipient="{user_id}@users.emporium.local",
        timeout=5,
    )


def _confirmed() -> OrderConfirmed:
    return OrderConfirmed(
        order_id=uuid.uuid4(), user_id=uuid.uuid4(), lines=[], total=Money(amount=500)
    )


async def _handle(
    database: Database, mailer: SmtpMailer, event: OrderConfirmed, *, commit: bool
) -> None:
    async with database.unit_of_work() as uow:
        await message_handlers(mailer)[OrderConfirmed](event, uow)
        if commit:
            await uow.commit()


async def test_a_committed_message_is_mailed_and_a_rolled_back_one_is_not(
    database: Database, sink: tuple[SmtpSink, int]
) -> None:
    smtp, port = sink
    mailer = _mailer(port)
    rolled_back, committed = _confirmed(), _confirmed()
    await _handle(database, mailer, rolled_back, commit=False)
    await _handle(database, mailer, committed, commit=True)

    async def mailed() -> bool:
        return bool(smtp.mails)

    await eventually_async(mailed, timeout=15, message="waiting for the committed message mailed")
    await mailer.stop()
    [mail] = smtp.mails
    assert mail["Subject"] == f"Your order {committed.order_id.hex[:8]} is confirmed"
    assert mail["To"] == f"{committed.user_id}@users.emporium.local"
    assert "$5.00" in mail.get_content()


async def test_a_mail_server_that_is_down_never_loses_the_stored_message(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    mailer = _mailer(port)
    event = _confirmed()
    with caplog.at_level(logging.WARNING, logger="emporium.services.notifications.mailer"):
        await _handle(database, mailer, event, commit=True)
        await mailer.stop()
    assert any("mailing notification" in record.getMessage() for record in caplog.records)
    async with database.session() as session:
        [stored] = await NotificationRepository(session).for_user(event.user_id, 10)
    assert stored.order_id == event.order_id


async def test_the_service_mails_what_it_stores_when_an_smtp_url_is_set(
    tmp_path: Path, embedded_nats: EmbeddedNats, sink: tuple[SmtpSink, int]
) -> None:
    smtp, port = sink
    namespace, tokens = unique_namespace(), TokenFactory()
    settings = NotificationsSettings(smtp_url=f"smtp://127.0.0.1:{port}")

    def create(chassis: ChassisSettings) -> FastAPI:
        return create_app(chassis, settings, auth=tokens.verifier())

    event = _confirmed()
    chassis = chassis_settings(tmp_path / "var", embedded_nats.url, namespace)
    async with (
        running(create, chassis),
        publisher(tmp_path, embedded_nats.url, namespace) as orders,
    ):
        await deliver_twice(orders, event)

        async def mailed() -> bool:
            return bool(smtp.mails)

        await eventually_async(mailed, timeout=15, message="waiting for the confirmation mailed")
    assert [mail["Subject"] for mail in smtp.mails] == [
        f"Your order {event.order_id.hex[:8]} is confirmed"
    ]
