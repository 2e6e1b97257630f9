"""The messaging facade a service's start-up uses.

::

    messaging = Messaging(
        settings.broker_url, service="inventory", database=db,
        handlers={ProductCreated: on_product_created},
    )
    await messaging.start()
    ...
    async with db.unit_of_work() as uow:
        await messaging.outbox.add(uow.session, StockReserved(...))
        await uow.commit()
    ...
    await messaging.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from emporium.chassis.backoff import Backoff
from emporium.chassis.db import Database
from emporium.chassis.messaging._nats import NatsTransport
from emporium.chassis.messaging._rabbit import RabbitTransport
from emporium.chassis.messaging._transport import RawListener, Transport
from emporium.chassis.messaging.consumer import Consumer, ConsumerSpec, Handler
from emporium.chassis.messaging.envelope import decode, subject_for
from emporium.chassis.messaging.inbox import INBOX, Inbox, InboxPruner, make_inbox_table
from emporium.chassis.messaging.metrics import CONSUMER_LAG
from emporium.chassis.messaging.outbox import OUTBOX, Outbox, make_outbox_table
from emporium.chassis.messaging.relay import OutboxRelay
from emporium.contracts._base import Message

__all__ = ["Listener", "Messaging", "make_transport", "messaging_tables"]

logger = logging.getLogger(__name__)
# How long stop() lets a lag probe already asking the broker finish.
_LAG_PROBE_GRACE = 2.0


def messaging_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """The outbox and inbox tables in a service's own ``metadata`` (added if missing)."""
    outbox = metadata.tables.get("outbox")
    if outbox is None:
        outbox = make_outbox_table(metadata)
    inbox = metadata.tables.get("inbox")
    if inbox is None:
        inbox = make_inbox_table(metadata)
    return outbox, inbox


def make_transport(url: str, *, namespace: str = "emporium", pull_wait: float = 1.0) -> Transport:
    """The transport for the URL's scheme: ``nats://`` or ``amqp(s)://``."""
    scheme = urlsplit(url).scheme
    if scheme in {"nats", "tls"}:
        return NatsTransport(url, namespace=namespace, pull_wait=pull_wait)
    if scheme in {"amqp", "amqps"}:
        return RabbitTransport(url, namespace=namespace)
    raise ValueError(f"EMPORIUM_BROKER_URL: unsupported scheme {scheme!r} in {url!r}")


class Messaging:
    """A service's whole messaging: transport, consumers with inbox, outbox and relay.

    Lifecycle: :meth:`start` connects, declares the topology, starts the relay
    and then the consumers; :meth:`stop` stops consuming, lets in-flight
    handlers finish, stops the relay and disconnects. Integration events are
    published only through :attr:`outbox` inside the caller's unit of work.

    ``namespace`` prefixes every subject, stream, queue and exchange; it is
    "emporium" in production and unique per test so tests never share state.
    The outbox and inbox tables must exist (``Database.create_all`` makes the
    default ones, which are on ``Base.metadata``).

    ``listeners`` are not consumers: each process hears every message of the
    type (its own publications included), at most once, with no inbox and no
    retry, and nothing published while it is away. They suit a cache that
    must learn of changes made by other replicas; never use one for an effect.
    """

    def __init__(
        self,
        url: str,
        *,
        service: str,
        database: Database[Any],
        handlers: Mapping[type[Message], Handler] | None = None,
        namespace: str = "emporium",
        max_deliveries: int = 5,
        retry_backoff: Backoff | None = None,
        relay: bool = True,
        poll_interval: float = 0.5,
        outbox_retention: timedelta = timedelta(days=1),
        inbox_retention: timedelta = timedelta(days=7),
        outbox_table: sa.Table = OUTBOX,
        inbox_table: sa.Table = INBOX,
        transport: Transport | None = None,
        outbox: Outbox | None = None,
        lag_interval: float = 2.0,
        listeners: Mapping[type[Message], Listener] | None = None,
        pull_wait: float = 1.0,
    ) -> None:
        if max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        self.service = service
        self.database = database
        self.namespace = namespace
        self.transport = transport or make_transport(url, namespace=namespace, pull_wait=pull_wait)
        # A service whose handlers are built before messaging passes its own
        # outbox; either way the relay takes the rows it adds (hand_over_to).
        self.outbox = outbox or Outbox(namespace=namespace, table=outbox_table)
        if self.outbox.namespace != namespace:
            raise ValueError("the outbox and the messaging must share one namespace")
        self.inbox = Inbox(inbox_table)
        self.pruner = InboxPruner(database, self.inbox, retention=inbox_retention)
        backoff = retry_backoff or Backoff(0.5, 30.0)
        self.consumers = [
            Consumer(
                ConsumerSpec(service, message_type, namespace, max_deliveries, backoff),
                handler,
                database,
                self.inbox,
            )
            for message_type, handler in (handlers or {}).items()
        ]
        self.relay: OutboxRelay | None = None
        if relay:
            self.relay = OutboxRelay(
                database,
                self.transport.publish,
                service=service,
                table=self.outbox.table,
                poll_interval=poll_interval,
                retention=outbox_retention,
            )
        self.listeners = dict(listeners or {})
        self._started = False
        self._lag_task: asyncio.Task[None] | None = None
        self._lag_stop = asyncio.Event()
        self.lag_interval = lag_interval

    async def _probe_lag(self) -> None:
        # Runs while the process lives, consumers stopped or not: a stopped
        # consumer is exactly when the lag must keep being reported.
        while not self._lag_stop.is_set():
            for consumer in self.consumers:
                if self._lag_stop.is_set():
                    return
                try:
                    pending = await self.transport.lag(consumer)
                except Exception as exc:
                    # nats-py turns a cancelled request into a TimeoutError, so a
                    # cancel can arrive here as an ordinary exception: honour it.
                    if self._lag_stop.is_set():
                        return
                    logger.debug("lag probe failed", extra={"error": repr(exc)})
                    continue
                CONSUMER_LAG.labels(consumer=consumer.spec.name).set(pending)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lag_stop.wait(), self.lag_interval)

    async def start(self) -> None:
        await self.transport.connect()
        if self.relay is not None:
            await self.relay.start()
            # From now on rows are written leased to this relay and handed to it.
            self.outbox.hand_over_to(self.relay)
        for consumer in self.consumers:
            self.transport.add_consumer(consumer)
        for message_type, listener in self.listeners.items():
            self.transport.add_listener(
                subject_for(message_type, self.namespace), _decoding(message_type, listener)
            )
        await self.transport.start_consumers()
        if self.consumers:
            await self.pruner.start()
            self._lag_stop.clear()
            self._lag_task = asyncio.create_task(self._probe_lag(), name=f"lag-{self.service}")
        self._started = True
        logger.info(
            "messaging started",
            extra={
                "service": self.service,
                "namespace": self.namespace,
                "consumers": [c.spec.name for c in self.consumers],
            },
        )

    async def stop(self) -> None:
        # Consumers first (in-flight handlers finish), then the relay (it
        # finishes the batch in hand; rows left go out on the next start or
        # from another replica), and the connection last, which both need.
        if self._lag_task is not None:
            # A stop flag, and a cancel only if the probe does not end by itself:
            # on RabbitMQ a cancelled queue declare closes the channel the
            # consumers share, and their stop below then fails on it.
            self._lag_stop.set()
            done, _ = await asyncio.wait({self._lag_task}, timeout=_LAG_PROBE_GRACE)
            if not done:
                self._lag_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._lag_task
            self._lag_task = None
        try:
            await self.pruner.stop()
            await self.transport.stop_consumers()
            if self.relay is not None:
                self.outbox.hand_over_to(None)
                await self.relay.stop()
        finally:
            await self.transport.close()
            self._started = False
        logger.info("messaging stopped", extra={"service": self.service})

    # Reported at /health/ready, never gating it: without its broker a service
    # still serves reads and takes writes, whose events wait in the outbox.
    gates_readiness = False

    async def ready(self) -> bool:
        """True while the broker connection is up (for ``/health/ready``)."""
        return self._started and await self.transport.ready()


Listener = Callable[[Message], Awaitable[None]]
"""Told each message of its type that any process published (see ``listeners``)."""


def _decoding(message_type: type[Message], listener: Listener) -> RawListener:
    async def hear(payload: bytes) -> None:
        await listener(decode(message_type, payload))

    return hear
