"""deploy/rabbitmq-users.sh's users let the chassis work on RabbitMQ; the storefront only listens.

The machine's RabbitMQ, a fresh vhost and user names of this test's own; the
script runs as an operator runs it (rabbitmqctl on the broker's host). Catalog
publishes through its outbox relay, inventory consumes through its queue and
the storefront hears through its listener, each as its own user. Then what the
storefront may not do: anything but listen.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused

from emporium.chassis.messaging import Listening, make_transport
from emporium.contracts import Message
from emporium.contracts.catalog import ProductCreated
from tests._poll import eventually_async
from tests.integration._messaging_support import (
    Store,
    add_to_outbox,
    product,
    unique,
    until_hearing,
)

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq-users.sh"
SERVICES = ("catalog", "inventory", "storefront")
NAMESPACE = "emporium"  # the script names the production entities


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def users(rabbitmq_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Each service's broker URL, its user made by the script in a vhost of its own."""
    if shutil.which("rabbitmqctl") is None:
        message = "rabbitmqctl is not on PATH: run this where the RabbitMQ server runs"
        if os.environ.get("EMPORIUM_REQUIRE_SERVICES") == "1":
            pytest.fail(f"EMPORIUM_REQUIRE_SERVICES=1 and {message}")
        pytest.skip(f"SKIPPED LOUDLY: {message}")
    vhost, prefix = unique("vh"), unique("u") + "_"
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for service in SERVICES:
        (secrets / f"{service}-rabbitmq-password").write_text(f"pw-{service}\n")
    server = urlsplit(rabbitmq_url)
    _rabbitmqctl("add_vhost", vhost)
    try:
        subprocess.run(
            [str(SCRIPT), vhost, *SERVICES],
            env={**os.environ, "SECRETS_DIR": str(secrets), "USER_PREFIX": prefix},
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield {
            service: f"amqp://{prefix}{service}:pw-{service}@{server.hostname}:{server.port}/{vhost}"
            for service in SERVICES
        }
    finally:
        _rabbitmqctl("delete_vhost", vhost)
        for service in SERVICES:
            user = f"{prefix}{service}"
            subprocess.run(["rabbitmqctl", "delete_user", user], capture_output=True, timeout=60)


async def test_each_service_publishes_consumes_and_listens_as_itself(
    users: dict[str, str], tmp_path: Path
) -> None:
    catalog = await Store.sqlite(tmp_path, "catalog")
    inventory = await Store.sqlite(tmp_path, "inventory")
    publisher = catalog.messaging(users["catalog"], NAMESPACE, "catalog", consume=False)
    consumer = inventory.messaging(users["inventory"], NAMESPACE, "inventory")
    heard: list[str] = []

    async def hear(message: Message) -> None:
        heard.append(cast(ProductCreated, message).sku)

    listening = Listening(
        users["storefront"],
        service="storefront",
        listeners={ProductCreated: hear},
        namespace=NAMESPACE,
    )
    await listening.start()
    await consumer.start()
    await publisher.start()
    try:
        await until_hearing(listening)
        await add_to_outbox(catalog, NAMESPACE, product("SKU-1"))

        async def done() -> tuple[list[str], list[str]]:
            return await inventory.effect_skus(), heard

        await eventually_async(
            done,
            lambda seen: seen == (["SKU-1"], ["SKU-1"]),
            timeout=15,
            message="inventory to consume and the storefront to hear catalog's event",
        )
    finally:
        await publisher.stop()
        await consumer.stop()
        await listening.stop()
        await catalog.database.dispose()
        await inventory.database.dispose()


async def test_the_storefront_may_only_listen(users: dict[str, str]) -> None:
    # Declaring the publishers' topology (the main exchange) is refused ...
    transport = make_transport(users["storefront"], namespace=NAMESPACE)
    try:
        with pytest.raises(ChannelAccessRefused):
            await asyncio.wait_for(transport.connect(), 15)
    finally:
        await transport.close()
    connection = await aio_pika.connect(users["storefront"])
    try:
        # ... so is publishing to the listeners' exchange, as if it were catalog ...
        channel = await connection.channel()
        exchange = await channel.get_exchange(f"{NAMESPACE}.listen", ensure=False)
        with pytest.raises(ChannelAccessRefused):
            await exchange.publish(
                aio_pika.Message(b"{}"), routing_key=f"{NAMESPACE}.catalog.ProductCreated"
            )
        # ... and taking messages from a service's queue.
        channel = await connection.channel()
        queue = await channel.get_queue(f"{NAMESPACE}.inventory.ProductCreated", ensure=False)
        with pytest.raises(ChannelAccessRefused):
            await queue.get(fail=False)
    finally:
        await connection.close()
