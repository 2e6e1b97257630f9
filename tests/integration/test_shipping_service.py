"""Shipping in-process on a real broker (NATS, RabbitMQ) and store (SQLite, MariaDB).

Orders is played by a publisher-only ``Messaging`` in the test's namespace, and a
test consumer observes what shipping publishes. Every order event is delivered
twice (two broker copies of one message id) to prove the consumers idempotent.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import REGISTRY

from emporium.chassis import ChassisSettings, Database, UnitOfWork
from emporium.chassis.messaging import OUTBOX, Messaging, encode
from emporium.chassis.testing import TokenFactory
from emporium.contracts import Message
from emporium.contracts.money import Money
from emporium.contracts.orders import Address, OrderCancelled, OrderConfirmed, OrderLine
from emporium.contracts.shipping import ShipmentCreated, ShipmentDispatched
from emporium.services.shipping.main import create_app
from emporium.services.shipping.settings import ShippingSettings
from emporium.services.shipping.store import metadata as shipping_tables
from emporium.services.shipping.store import shipments
from tests._poll import eventually_async
from tests.integration._services import chassis_settings, running, unique_namespace

DELAY = 1.0
CANCEL_WINDOW = 4.0
Seen = TypeVar("Seen", ShipmentCreated, ShipmentDispatched)


@dataclasses.dataclass
class World:
    """One test's namespace, broker, shipping store, token issuer and fake orders."""

    tmp_path: Path
    broker_url: str
    database_url: str
    namespace: str = dataclasses.field(default_factory=unique_namespace)
    tokens: TokenFactory = dataclasses.field(default_factory=TokenFactory)
    seen: list[ShipmentCreated | ShipmentDispatched] = dataclasses.field(default_factory=list)

    def settings(self, delay: float = DELAY) -> ShippingSettings:
        return ShippingSettings(
            database_url=self.database_url,
            dispatch_delay_seconds=delay,
            dispatch_poll_seconds=0.1,
        )

    @asynccontextmanager
    async def shipping(self, delay: float = DELAY) -> AsyncIterator[httpx.AsyncClient]:
        def create(chassis: ChassisSettings) -> FastAPI:
            return create_app(chassis, self.settings(delay), auth=self.tokens.verifier())

        chassis = chassis_settings(self.tmp_path / "var", self.broker_url, self.namespace)
        async with running(create, chassis) as client:
            yield client

    @asynccontextmanager
    async def orders(self) -> AsyncIterator[Messaging]:
        """A publisher-only orders, and an observer of shipping's events."""
        database = Database(f"sqlite+aiosqlite:///{self.tmp_path / 'peer.db'}")
        await database.create_all(shipping_tables)

        async def observe(message: ShipmentCreated | ShipmentDispatched, _uow: UnitOfWork) -> None:
            self.seen.append(message)

        publisher = Messaging(
            self.broker_url,
            service="test-orders",
            database=database,
            namespace=self.namespace,
            relay=False,
        )
        observer = Messaging(
            self.broker_url,
            service="test-observer",
            database=database,
            handlers={ShipmentCreated: observe, ShipmentDispatched: observe},
            namespace=self.namespace,
            relay=False,
        )
        await observer.start()
        await publisher.start()
        try:
            yield publisher
        finally:
            await publisher.stop()
            await observer.stop()
            await database.dispose()

    def seen_of(self, kind: type[Seen], order_id: uuid.UUID) -> list[Seen]:
        return [m for m in self.seen if isinstance(m, kind) and m.order_id == order_id]

    async def store(self) -> Database:
        url = self.settings().resolved_database_url("shipping", self.tmp_path / "var")
        return Database(url)


@pytest.fixture(params=["sqlite", "mariadb"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Shipping's database URL: empty for its own SQLite file under var, or MariaDB."""
    if request.param == "sqlite":
        return ""
    url: str = request.getfixturevalue("mariadb_database")
    return url


def duplicates(consumer: str) -> float:
    """How many deliveries ``consumer`` acknowledged as already handled (this process)."""
    value = REGISTRY.get_sample_value("emporium_messages_duplicate_total", {"consumer": consumer})
    return value or 0.0


async def deliver_twice(publisher: Messaging, message: Message) -> None:
    """Publish two broker copies of ``message`` and wait until shipping absorbed the second."""
    consumer = f"shipping.{message.type}"
    before = duplicates(consumer)
    envelope = encode(message, namespace=publisher.namespace)
    await publisher.transport.publish(envelope)
    await publisher.transport.publish(dataclasses.replace(envelope, dedup_id=f"{message.id}-2"))

    async def absorbed() -> bool:
        return duplicates(consumer) > before

    await eventually_async(
        absorbed, timeout=15, message=f"waiting for the second copy of {message.type} acknowledged"
    )


def confirmed(country: str = "US") -> OrderConfirmed:
    line = OrderLine(
        product_id=uuid.uuid4(), sku="SKU-1", name="Mug", quantity=2, unit_price=Money(amount=900)
    )
    address = Address(
        name="Ada", line1="1 Main St", city="Springfield", postal_code="1", country=country
    )
    return OrderConfirmed(
        order_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        lines=[line],
        total=Money(amount=1800),
        shipping_address=address,
    )


async def shipment(
    client: httpx.AsyncClient, world: World, event: OrderConfirmed, status: str
) -> dict[str, object]:
    """Poll the owner's view of the order's shipment until it has ``status``."""
    found: dict[str, object] = {}

    async def has_status() -> bool:
        response = await client.get(
            "/api/shipping/shipments",
            params={"order_id": str(event.order_id)},
            headers=world.tokens.headers(event.user_id),
        )
        found.update(response.json() if response.status_code == 200 else {})
        return found.get("status") == status

    await eventually_async(has_status, timeout=15, message=f"waiting for shipment {status}")
    return found


async def _rows(world: World, order_id: uuid.UUID) -> tuple[int, int]:
    """(shipments, ShipmentDispatched outbox rows) of the order in shipping's store."""
    database = await world.store()
    try:
        async with database.session() as session:
            count = await session.scalar(
                sa.select(sa.func.count()).where(shipments.c.order_id == order_id)
            )
            outbox = (await session.execute(sa.select(OUTBOX.c.type, OUTBOX.c.payload))).all()
    finally:
        await database.dispose()
    dispatched = sum(
        1 for t, p in outbox if t == "ShipmentDispatched" and p["order_id"] == str(order_id)
    )
    return int(count or 0), dispatched


async def test_confirmed_order_is_dispatched_after_the_delay_once_and_only_its_owner_reads_it(
    tmp_path: Path, broker_url: str, store_url: str
) -> None:
    world = World(tmp_path, broker_url, store_url)
    event = confirmed("GB")
    async with world.shipping() as client, world.orders() as orders:
        await deliver_twice(orders, event)
        found = await shipment(client, world, event, "DISPATCHED")

        async def announced() -> bool:
            return bool(world.seen_of(ShipmentDispatched, event.order_id))

        await eventually_async(announced, timeout=15, message="waiting for ShipmentDispatched")
        dispatched = world.seen_of(ShipmentDispatched, event.order_id)[0]
        assert dispatched.user_id == event.user_id
        assert dispatched.tracking_number == found["tracking_number"]
        assert dispatched.carrier == found["carrier"] == "Emporium Global"
        assert world.seen_of(ShipmentCreated, event.order_id)[0] == ShipmentCreated(
            id=world.seen_of(ShipmentCreated, event.order_id)[0].id,
            occurred_at=world.seen_of(ShipmentCreated, event.order_id)[0].occurred_at,
            order_id=event.order_id,
            user_id=event.user_id,
            tracking_number=str(found["tracking_number"]),
        )
        waited = datetime.fromisoformat(str(found["dispatched_at"])) - datetime.fromisoformat(
            str(found["created_at"])
        )
        assert waited.total_seconds() >= DELAY
        assert await _rows(world, event.order_id) == (1, 1)

        url, params = "/api/shipping/shipments", {"order_id": str(event.order_id)}
        other = await client.get(url, params=params, headers=world.tokens.headers(uuid.uuid4()))
        assert other.status_code == 404
        assert other.headers["content-type"] == "application/problem+json"
        admin = await client.get(url, params=params, headers=world.tokens.headers(role="admin"))
        assert admin.status_code == 200
        assert admin.json()["tracking_number"] == found["tracking_number"]
        assert (await client.get(url, params=params)).status_code == 401
        bad = await client.get(url, params={"order_id": "nope"}, headers=world.tokens.headers())
        assert bad.status_code == 422


async def test_order_cancelled_before_dispatch_is_never_dispatched(
    tmp_path: Path, broker_url: str
) -> None:
    world = World(tmp_path, broker_url, "")
    doomed, later = confirmed(), confirmed()
    # The delay runs from when the handler starts: it must outlast the first
    # handler's run on a loaded machine (over a second seen in CI), or the
    # shipment is already due, and dispatched, when it is first read.
    async with world.shipping(delay=CANCEL_WINDOW) as client, world.orders() as orders:
        await deliver_twice(orders, doomed)
        await shipment(client, world, doomed, "CREATED")
        cancel = OrderCancelled(
            order_id=doomed.order_id, user_id=doomed.user_id, reason="CUSTOMER_CANCELLED"
        )
        await deliver_twice(orders, cancel)
        await shipment(client, world, doomed, "CANCELLED")
        # A later order falls due after the cancelled one would have: once it is
        # dispatched, the dispatcher has had its chance at the cancelled one.
        await deliver_twice(orders, later)
        await shipment(client, world, later, "DISPATCHED")

        async def later_announced() -> bool:
            return bool(world.seen_of(ShipmentDispatched, later.order_id))

        await eventually_async(
            later_announced, timeout=15, message="waiting for the later order's ShipmentDispatched"
        )
        assert world.seen_of(ShipmentDispatched, doomed.order_id) == []
        assert await _rows(world, doomed.order_id) == (1, 0)


async def test_dispatcher_resumes_a_due_shipment_after_a_restart(
    tmp_path: Path, broker_url: str, store_url: str
) -> None:
    world = World(tmp_path, broker_url, store_url)
    event = confirmed()
    async with world.orders() as orders:
        async with world.shipping(delay=2.0) as client:
            await deliver_twice(orders, event)
            await shipment(client, world, event, "CREATED")
        # Stopped before the shipment fell due: nothing was dispatched yet.
        assert await _rows(world, event.order_id) == (1, 0)
        async with world.shipping(delay=2.0) as client:
            await shipment(client, world, event, "DISPATCHED")

            async def announced() -> bool:
                return bool(world.seen_of(ShipmentDispatched, event.order_id))

            await eventually_async(
                announced, timeout=15, message="waiting for ShipmentDispatched after the restart"
            )
        assert await _rows(world, event.order_id) == (1, 1)
