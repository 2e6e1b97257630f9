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

__all__ = ["Listener", "Listening", "Messaging", "make_transport", "messaging_tables"]

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


class Listening:
    """The broker of a service with no store: listeners only, no outbox, no consumers.

    A stateless service (the storefront) can still keep a cache current from
    other services' events. It has nothing to publish and nothing durable to
    consume, so it needs no outbox, no inbox and no store; it declares no
    topology either (its broker user may subscribe and nothing more).

    Lifecycle: :meth:`start` returns at once and connects in the background,
    again and again with backoff while the broker is away: such a service
    must start and serve without its broker. :attr:`hearing` turns true once
    the broker has confirmed the subscriptions, so every event published
    after that moment is heard; a cache should keep nothing before it (what
    it kept could miss a change). If the connection drops later, events are
    missed until it is back, which is why a cache kept this way also bounds
    how long it keeps anything (:class:`~emporium.chassis.read_model.ReadModel`'s
    ``ttl``). ``listeners`` may be set after construction, before :meth:`start`:
    they are usually built after the components that own them.
    """

    # Reported at /health/ready, never gating it: the service works without it.
    gates_readiness = False

    def __init__(
        self,
        url: str,
        *,
        service: str,
        listeners: Mapping[type[Message], Listener] | None = None,
        namespace: str = "emporium",
        backoff: Backoff | None = None,
        transport: Callable[[], Transport] | None = None,
    ) -> None:
        self.service = service
        self.namespace = namespace
        self.listeners = dict(listeners or {})
        self.backoff = backoff or Backoff(0.5, 10.0, jitter=0.2)
        self._make = transport or (lambda: make_transport(url, namespace=namespace))
        self.transport: Transport | None = None
        self.hearing = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name=f"listen-{self.service}")

    async def _listen(self) -> None:
        attempt = 0
        while True:
            # A new transport each time: a failed connect leaves nothing to reuse.
            transport = self._make()
            for message_type, listener in self.listeners.items():
                transport.add_listener(
                    subject_for(message_type, self.namespace), _decoding(message_type, listener)
                )
            try:
                await transport.connect(declare=False)
                await transport.start_consumers()
            except Exception as exc:
                await _close_quietly(transport)
                attempt += 1
                delay = self.backoff.delay(attempt)
                logger.warning(
                    "broker unreachable; listening again in %.1f s",
                    delay,
                    extra={"service": self.service, "error": repr(exc)},
                )
                await asyncio.sleep(delay)
                continue
            except BaseException:
                await _close_quietly(transport)
                raise
            self.transport = transport
            self.hearing = True
            logger.info(
                "listening",
                extra={"service": self.service, "types": [t.type for t in self.listeners]},
            )
            return

    async def stop(self) -> None:
        self.hearing = False
        if self._task is not None:
            await _cancel(self._task)
            self._task = None
        if self.transport is not None:
            await self.transport.close()
            self.transport = None

    async def ready(self) -> bool:
        """True while the subscriptions stand and the connection is up."""
        return self.hearing and self.transport is not None and await self.transport.ready()


async def _cancel(task: asyncio.Task[None], *, tries: int = 50) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again while it runs.

    One cancel is not always enough: seen here, a connect to a broker that is
    away (nats-py retries it forever) went on connecting after its cancel,
    the task stuck in "cancelling". The likely cause is Python 3.11's
    ``asyncio.wait_for``, which nats-py's connect goes through and which can
    swallow a cancel that lands as its inner call finishes. Each new cancel
    gives the task another chance to end.
    """
    for _ in range(tries):
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.1)
        if done:
            with contextlib.suppress(asyncio.CancelledError):
                task.result()
            return
    logger.warning(
        "a background connect to the broker did not stop", extra={"task": task.get_name()}
    )


async def _close_quietly(transport: Transport) -> None:
    try:
        await transport.close()
    except Exception as exc:
        logger.debug("closing a failed broker connection failed", extra={"error": repr(exc)})


def _decoding(message_type: type[Message], listener: Listener) -> RawListener:
    async def hear(payload: bytes) -> None:
        await listener(decode(message_type, payload))

    return hear
