"""The mailer's transport security against a scripted SMTP server: STARTTLS
whenever offered, no mail without it when required, no credentials in clear,
no password in any error."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from emporium.services.notifications.mailer import SmtpMailer, mask_url
from emporium.services.notifications.store import Notification


class ScriptedSmtp:
    """Records the commands it gets; offers STARTTLS if told to, then refuses it
    (a real handshake is not the point: whether the client asks first is)."""

    def __init__(self, *, offers_starttls: bool) -> None:
        self.offers_starttls = offers_starttls
        self.commands: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 scripted ESMTP\r\n")
        in_data = False
        while line := await reader.readline():
            if in_data:
                if line.rstrip(b"\r\n") == b".":
                    in_data = False
                    writer.write(b"250 queued\r\n")
                continue
            command = line.decode().strip()
            self.commands.append(command.split(" ")[0].upper())
            verb = self.commands[-1]
            if verb == "EHLO":
                extensions = [b"250-scripted", b"250-AUTH PLAIN LOGIN"]
                if self.offers_starttls:
                    extensions.append(b"250-STARTTLS")
                writer.write(b"\r\n".join([*extensions, b"250 8BITMIME"]) + b"\r\n")
            elif verb == "STARTTLS":
                writer.write(b"454 TLS not available right now\r\n")
            elif verb == "DATA":
                in_data = True
                writer.write(b"354 go ahead\r\n")
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()


@pytest.fixture
async def servers() -> AsyncIterator[list[asyncio.Server]]:
    started: list[asyncio.Server] = []
    yield started
    for server in started:
        server.close()
        await server.wait_closed()


async def scripted(
    servers: list[asyncio.Server], *, offers_starttls: bool
) -> tuple[ScriptedSmtp, int]:
    smtp = ScriptedSmtp(offers_starttls=offers_starttls)
    server = await asyncio.start_server(smtp.handle, "127.0.0.1", 0)
    servers.append(server)
    return smtp, server.sockets[0].getsockname()[1]


def notification() -> Notification:
    return Notification(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        kind="OrderConfirmed",
        subject="Your order",
        body="Thanks",
        created_at=datetime.now(UTC),
    )


async def test_starttls_is_asked_for_before_anything_else_when_the_server_offers_it(
    servers: list[asyncio.Server],
) -> None:
    smtp, port = await scripted(servers, offers_starttls=True)
    mailer = SmtpMailer(f"smtp://127.0.0.1:{port}", sender="a@b.c", recipient="{user_id}@x.y")
    await mailer._send(notification())
    assert smtp.commands[:2] == ["EHLO", "STARTTLS"]
    assert "MAIL" not in smtp.commands  # the upgrade failed: nothing went out in clear


async def test_a_server_without_starttls_gets_no_mail_when_tls_is_required(
    servers: list[asyncio.Server],
) -> None:
    smtp, port = await scripted(servers, offers_starttls=False)
    mailer = SmtpMailer(
        f"smtp://127.0.0.1:{port}", sender="a@b.c", recipient="{user_id}@x.y", require_tls=True
    )
    await mailer._send(notification())
    assert "MAIL" not in smtp.commands


async def test_credentials_are_never_sent_over_an_unencrypted_connection(
    servers: list[asyncio.Server],
) -> None:
    smtp, port = await scripted(servers, offers_starttls=False)
    mailer = SmtpMailer(
        f"smtp://mailer:s3cret@127.0.0.1:{port}", sender="a@b.c", recipient="{user_id}@x.y"
    )
    await mailer._send(notification())
    assert "AUTH" not in smtp.commands
    assert "MAIL" not in smtp.commands


async def test_without_credentials_or_requirement_a_plain_server_still_gets_mail(
    servers: list[asyncio.Server],
) -> None:
    smtp, port = await scripted(servers, offers_starttls=False)
    mailer = SmtpMailer(f"smtp://127.0.0.1:{port}", sender="a@b.c", recipient="{user_id}@x.y")
    await mailer._send(notification())
    assert "MAIL" in smtp.commands


@pytest.mark.parametrize(
    "url", ["http://mailer:s3cret@mail.example:25", "smtp://mailer:s3cret@mail.example:notaport"]
)
def test_a_bad_smtp_url_is_refused_without_echoing_its_password(url: str) -> None:
    with pytest.raises(ValueError, match="EMPORIUM_NOTIFICATIONS_SMTP_URL") as refused:
        SmtpMailer(url, sender="a@b.c", recipient="r@x.y")
    assert "s3cret" not in str(refused.value)


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("smtp://u:p4ss@host:587/x") == "smtp://u:***@host:587/x"
    assert mask_url("smtp://host:25") == "smtp://host:25"
