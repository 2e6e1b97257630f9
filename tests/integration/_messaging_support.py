"""Helpers for the messaging integration tests: names, tables, dead letters."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import nats
import sqlalchemy as sa

from emporium.chassis.db import Database, UnitOfWork
from emporium.chassis.messaging import (
    Backoff,
    Listening,
    Messaging,
    Outbox,
    encode,
    make_inbox_table,
    make_outbox_table,
    make_transport,
)
from emporium.chassis.messaging._nats import stream_names
from emporium.contracts import Message
from emporium.contracts.catalog import ProductCreated
from emporium.contracts.money import Money
from emporium.launcher.nats import free_port
from tests._poll import eventually_async

TEST_BACKOFF = Backoff(base=0.05, cap=0.2)


def unreachable_broker() -> str:
    """A NATS URL nobody answers on: a broker that never hears (and never the
    machine's own NATS on 4222, which a default URL would reach)."""
    return f"nats://127.0.0.1:{free_port()}"


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def product(sku: str) -> ProductCreated:
    return ProductCreated(product_id=uuid.uuid4(), sku=sku, name=sku, price=Money(amount=100))


@dataclass
class Store:
    """One service's database with uniquely named outbox, inbox and effect tables."""

    database: Database
    metadata: sa.MetaData = field(default_factory=sa.MetaData)
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self.outbox = make_outbox_table(self.metadata, f"outbox_{self.suffix}")
        self.inbox = make_inbox_table(self.metadata, f"inbox_{self.suffix}")
        self.effects = sa.Table(
            f"effects_{self.suffix}",
            self.metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("message_id", sa.String(36), nullable=False),
            sa.Column("sku", sa.String(64), nullable=False),
        )

    @classmethod
    async def sqlite(cls, tmp_path: Path, name: str = "service") -> Store:
        store = cls(Database(f"sqlite+aiosqlite:///{tmp_path / name}.db"))
        await store.database.create_all(store.metadata)
        return store

    async def effect_skus(self) -> list[str]:
        async with self.database.session() as session:
            result = await session.execute(
                sa.select(self.effects.c.sku).order_by(self.effects.c.id)
            )
            return list(result.scalars())

    async def unpublished(self) -> int:
        async with self.database.session() as session:
            query = sa.select(sa.func.count()).where(self.outbox.c.published_at.is_(None))
            return int((await session.execute(query.select_from(self.outbox))).scalar_one())

    def handler(
        self, calls: list[str] | None = None, poison: str = "poison"
    ) -> Callable[[ProductCreated, UnitOfWork], Awaitable[None]]:
        """A handler that records an effect row, and raises for SKU ``poison``."""

        async def on_product_created(message: ProductCreated, uow: UnitOfWork) -> None:
            if calls is not None:
                calls.append(message.sku)
            if message.sku == poison:
                raise RuntimeError(f"cannot handle {message.sku}")
            await uow.session.execute(
                sa.insert(self.effects).values(message_id=str(message.id), sku=message.sku)
            )

        return on_product_created

    def messaging(
        self,
        broker_url: str,
        namespace: str,
        service: str,
        *,
        consume: bool = True,
        calls: list[str] | None = None,
        relay: bool = True,
        max_deliveries: int = 3,
    ) -> Messaging:
        return Messaging(
            broker_url,
            service=service,
            database=self.database,
            handlers={ProductCreated: self.handler(calls)} if consume else {},
            namespace=namespace,
            max_deliveries=max_deliveries,
            retry_backoff=TEST_BACKOFF,
            relay=relay,
            poll_interval=0.1,
            outbox_table=self.outbox,
            inbox_table=self.inbox,
        )


async def add_to_outbox(store: Store, namespace: str, message: Message) -> None:
    """Write ``message`` to ``store``'s outbox in a committed unit of work, as a service does."""
    async with store.database.unit_of_work() as uow:
        await Outbox(namespace=namespace, table=store.outbox).add(uow.session, message)
        await uow.commit()


async def publish(broker_url: str, namespace: str, event: Message) -> None:
    """Publish ``event`` straight to the broker, as another service's relay would."""
    publisher = make_transport(broker_url, namespace=namespace)
    await publisher.connect()
    try:
        await publisher.publish(encode(event, namespace=namespace))
    finally:
        await publisher.close()


async def until_hearing(listening: Listening) -> None:
    """Wait until the broker has confirmed ``listening``'s subscriptions."""

    async def hearing() -> bool:
        return listening.hearing

    await eventually_async(hearing, timeout=15, message="the listener's subscriptions")


async def dead_letters(broker_url: str, namespace: str) -> list[tuple[bytes, dict[str, str]]]:
    """Everything currently in the namespace's dead-letter stream or queue."""
    if broker_url.startswith("nats"):
        client = await nats.connect(broker_url)
        try:
            js = client.jetstream()
            _, dlq_stream = stream_names(namespace)
            sub = await js.pull_subscribe(f"dlq.{namespace}.>", stream=dlq_stream)
            try:
                messages = await sub.fetch(batch=100, timeout=0.5)
            except nats.errors.TimeoutError:
                return []
            return [(m.data, dict(m.headers or {})) for m in messages]
        finally:
            await client.close()
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{namespace}.dlq", passive=True)
        found: list[tuple[bytes, dict[str, str]]] = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            # Left unacknowledged: closing the connection puts them back.
            headers = {
                k: v.decode() if isinstance(v, bytes) else str(v)
                for k, v in (message.headers or {}).items()
            }
            found.append((message.body, headers))
        return found
