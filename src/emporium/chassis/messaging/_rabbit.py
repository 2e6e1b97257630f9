"""RabbitMQ transport (``amqp://``), through FastStream.

Topology, all durable, for namespace ``ns``:

- topic exchange ``ns``; routing key is the subject (``ns.<context>.<type>``);
  its alternate exchange ``ns.unrouted`` (fanout) parks messages that no queue
  is bound for yet in queue ``ns.unrouted``;
- one queue per consumer, ``ns.<service>.<type>``, bound to ``ns``. Before a
  process first publishes a type it declares and binds the queue of every
  consumer :data:`emporium.contracts.routing.CONSUMERS` names for it, so a
  consumer that starts after the publisher (or after another consumer of the
  same type) still finds everything published before it started;
- a consumer the table does not name (a test's, say) is covered by the parking
  above: when a consumer starts it re-publishes the parked messages once;
- per consumer, one retry queue per backoff delay, ``<queue>.retry.<ms>``,
  with that TTL, dead-lettering back to the consumer's queue. A failed
  message is re-published there with its attempt count in a header and the
  original acknowledged, so it never blocks the queue and nothing spins;
- topic exchange ``ns.dlx`` and queue ``ns.dlq`` for dead letters, routed by
  ``dlq.ns.<service>.<type>``; each carries an ``x-dead-letter-id``;
- topic exchange ``ns.listen``, which gets a second, transient copy of every
  message, for listeners (one exclusive, auto-deleted queue per process and
  subject). Apart from ``ns``, so a listener's queue never counts as a route
  there and a consumer that starts late still finds its messages parked.

Dead letters are listed and replayed by :mod:`._rabbit_dead_letters`.

Retention, so nothing grows without bound (the same as the NATS stream's
``max_age``): a message waits in a consumer's queue or the dead-letter queue at
most :data:`RETENTION_MS` (7 days); ``ns.unrouted`` keeps only what a consumer
starting late needs — the last :data:`UNROUTED_MAX` messages of the last
:data:`UNROUTED_TTL_MS` (1 hour) — so an event type nobody consumes is dropped,
not parked for ever and replayed to every consumer that starts.
"""

from __future__ import annotations

import logging
import uuid

from aio_pika import IncomingMessage
from faststream.middlewares import AckPolicy
from faststream.rabbit import Channel, ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.message import RabbitMessage

from emporium.chassis.messaging._rabbit_dead_letters import (
    DEAD_LETTER_ID,
    RabbitDeadLetters,
    header_text,
)
from emporium.chassis.messaging._transport import (
    DeadLetterRecord,
    RawListener,
    Transport,
    current_message,
    dead_letter_headers,
    hear,
    raw_body,
)
from emporium.chassis.messaging.consumer import (
    Ack,
    Consumer,
    ConsumerSpec,
    DeadLetter,
    Delivery,
    Retry,
)
from emporium.chassis.messaging.envelope import Envelope
from emporium.chassis.messaging.metrics import MESSAGES_DEAD_LETTERED
from emporium.contracts import message_types
from emporium.contracts.routing import CONSUMERS

__all__ = ["ATTEMPT_HEADER", "RabbitTransport"]

logger = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-emporium-attempt"
RETENTION_MS = 7 * 24 * 3600 * 1000
UNROUTED_TTL_MS = 3600 * 1000
UNROUTED_MAX = 10_000


class RabbitTransport(Transport):
    """RabbitMQ via FastStream; see the module docstring for the topology."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "emporium",
        prefetch: int = 10,
        graceful_timeout: float = 15.0,
        publish_timeout: float = 5.0,
    ) -> None:
        super().__init__(url, namespace=namespace)
        self.publish_timeout = publish_timeout
        self.broker = RabbitBroker(
            url,
            graceful_timeout=graceful_timeout,
            # FastStream's records go through the service's JSON log handler.
            logger=logging.getLogger("faststream"),
            log_level=logging.DEBUG,
            default_channel=Channel(prefetch_count=prefetch),
            # No FastDepends (a thread hop per message): see _nats.py.
            apply_types=False,
        )
        ns = namespace
        self.unrouted_exchange = RabbitExchange(f"{ns}.unrouted", type=ExchangeType.FANOUT)
        self.exchange = RabbitExchange(
            ns, type=ExchangeType.TOPIC, arguments={"alternate-exchange": f"{ns}.unrouted"}
        )
        self.dlx = RabbitExchange(f"{ns}.dlx", type=ExchangeType.TOPIC)
        self.listen_exchange = RabbitExchange(f"{ns}.listen", type=ExchangeType.TOPIC)
        self.unrouted_queue = RabbitQueue(
            f"{ns}.unrouted",
            durable=True,
            arguments={"x-message-ttl": UNROUTED_TTL_MS, "x-max-length": UNROUTED_MAX},
        )
        self.dlq = RabbitQueue(
            f"{ns}.dlq", durable=True, routing_key="#", arguments={"x-message-ttl": RETENTION_MS}
        )
        self._consumers: list[tuple[Consumer, RabbitQueue]] = []
        self._routed: set[str] = set()  # types whose consumers' queues are declared

    async def connect(self, *, declare: bool = True) -> None:
        await self.broker.connect()
        await self.broker.declare_exchange(self.listen_exchange)
        if not declare:  # a listener's queue binds to the listen exchange alone
            return
        unrouted = await self.broker.declare_exchange(self.unrouted_exchange)
        await self.broker.declare_exchange(self.exchange)
        dlx = await self.broker.declare_exchange(self.dlx)
        await (await self.broker.declare_queue(self.unrouted_queue)).bind(unrouted)
        await (await self.broker.declare_queue(self.dlq)).bind(dlx, routing_key="#")

    def _consumer_queue(self, spec: ConsumerSpec) -> RabbitQueue:
        return RabbitQueue(
            f"{self.namespace}.{spec.name}",
            durable=True,
            routing_key=spec.subject,
            # A message rejected by something other than our code (it should
            # not happen) still ends in the dead-letter queue, not nowhere.
            arguments={
                "x-dead-letter-exchange": self.dlx.name,
                "x-dead-letter-routing-key": spec.dead_letter_subject,
                # A message expired after RETENTION_MS is dead-lettered, not lost unseen.
                "x-message-ttl": RETENTION_MS,
            },
        )

    def add_consumer(self, consumer: Consumer) -> None:
        queue = self._consumer_queue(consumer.spec)
        self._consumers.append((consumer, queue))
        subscriber = self.broker.subscriber(
            queue, self.exchange, ack_policy=AckPolicy.MANUAL, decoder=raw_body
        )

        async def on_message(_body: bytes) -> None:
            await self._handle(consumer, queue, current_message(self.broker))

        subscriber(on_message)

    def add_listener(self, subject: str, listener: RawListener) -> None:
        # A queue of this process's own, gone with its connection: each
        # process hears every message, and nothing piles up while it is away.
        queue = RabbitQueue(
            f"{self.namespace}.listen.{uuid.uuid4().hex}",
            durable=False,
            exclusive=True,
            auto_delete=True,
            routing_key=subject,
        )
        # no_reply: a listener never answers what it hears.
        subscriber = self.broker.subscriber(
            queue,
            self.listen_exchange,
            ack_policy=AckPolicy.ACK_FIRST,
            decoder=raw_body,
            no_reply=True,
        )

        async def on_message(body: bytes) -> None:
            await hear(listener, body, subject)

        subscriber(on_message)

    def _retry_queue(self, queue: RabbitQueue, delay: float) -> RabbitQueue:
        ms = max(int(delay * 1000), 1)
        return RabbitQueue(
            f"{queue.name}.retry.{ms}",
            durable=True,
            arguments={
                "x-message-ttl": ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queue.name,
            },
        )

    async def start_consumers(self) -> None:
        for consumer, queue in self._consumers:
            for delay in consumer.spec.retry_delays():
                await self.broker.declare_queue(self._retry_queue(queue, delay))
        await self.broker.start()
        if self._consumers:
            await self._replay_unrouted()

    async def lag(self, consumer: Consumer) -> int:
        for known, queue in self._consumers:
            if known is consumer:
                declared = await (await self.broker.declare_queue(queue)).declare()
                return int(declared.message_count or 0)
        return 0

    async def _replay_unrouted(self) -> None:
        """Send parked messages through the exchange again, now that queues are bound.

        Only as many as were parked when we looked: what still routes nowhere
        comes back to the end of the parking queue and must not loop forever.
        """
        queue = await self.broker.declare_queue(self.unrouted_queue)
        declared = await queue.declare()
        exchange = await self.broker.declare_exchange(self.exchange)
        for _ in range(declared.message_count or 0):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            await exchange.publish(message, routing_key=message.routing_key or "")
            await message.ack()

    async def _handle(self, consumer: Consumer, queue: RabbitQueue, message: RabbitMessage) -> None:
        raw: IncomingMessage = message.raw_message
        headers = {k: header_text(v) for k, v in (raw.headers or {}).items()}
        attempt = int(headers.pop(ATTEMPT_HEADER, "1"))
        delivery = Delivery(payload=raw.body, headers=headers, attempt=attempt)
        outcome = await consumer.process(delivery)
        try:
            if isinstance(outcome, Retry):
                await self._publish_raw(
                    raw,
                    headers={**headers, ATTEMPT_HEADER: str(attempt + 1)},
                    queue=self._retry_queue(queue, outcome.delay),
                )
            elif isinstance(outcome, DeadLetter):
                await self._publish_raw(
                    raw,
                    headers={
                        **dead_letter_headers(headers, consumer, outcome, attempt),
                        DEAD_LETTER_ID: uuid.uuid4().hex,
                    },
                    exchange=self.dlx,
                    routing_key=consumer.spec.dead_letter_subject,
                )
                MESSAGES_DEAD_LETTERED.labels(consumer=consumer.spec.name).inc()
        except Exception:
            # Requeue rather than lose it; the broker hands it out again.
            logger.exception("retry/dead-letter publish failed", extra={"queue": queue.name})
            await message.nack(requeue=True)
            return
        assert isinstance(outcome, Ack | Retry | DeadLetter)
        await message.ack()

    async def _publish_raw(
        self,
        raw: IncomingMessage,
        *,
        headers: dict[str, str],
        queue: RabbitQueue | None = None,
        exchange: RabbitExchange | None = None,
        routing_key: str = "",
    ) -> None:
        if queue is not None:
            await self.broker.declare_queue(queue)
        await self.broker.publish(
            raw.body,
            queue=queue.name if queue is not None else "",
            exchange=exchange,
            routing_key=routing_key,
            headers=dict(headers),
            message_id=raw.message_id,
            content_type=raw.content_type,
            persist=True,
            mandatory=False,
            timeout=self.publish_timeout,
        )

    async def _ensure_consumer_queues(self, subject: str) -> None:
        """Declare the queues of every consumer of ``subject``'s type, once per process.

        A topic exchange delivers only to queues bound when it publishes; these
        queues exist from the first publish on, whichever consumer starts first.
        """
        type_name = subject.rpartition(".")[2]
        if type_name in self._routed:
            return
        message_type = message_types().get(type_name)
        if message_type is not None:
            exchange = await self.broker.declare_exchange(self.exchange)
            for service in CONSUMERS.get(type_name, ()):
                spec = ConsumerSpec(service, message_type, namespace=self.namespace)
                queue = await self.broker.declare_queue(self._consumer_queue(spec))
                await queue.bind(exchange, routing_key=spec.subject)
        self._routed.add(type_name)

    async def publish(self, envelope: Envelope) -> None:
        await self._ensure_consumer_queues(envelope.subject)
        await self.broker.publish(
            envelope.payload,
            exchange=self.exchange,
            routing_key=envelope.subject,
            headers=dict(envelope.headers),
            message_id=envelope.broker_dedup_id,
            content_type="application/json",
            persist=True,
            # Unroutable messages go to the alternate exchange, not back to us.
            mandatory=False,
            timeout=self.publish_timeout,
        )
        # The listeners' copy: not persisted, dropped when nobody listens.
        await self.broker.publish(
            envelope.payload,
            exchange=self.listen_exchange,
            routing_key=envelope.subject,
            headers=dict(envelope.headers),
            message_id=envelope.broker_dedup_id,
            content_type="application/json",
            persist=False,
            mandatory=False,
            timeout=self.publish_timeout,
        )

    async def list_dead_letters(self, service: str, limit: int = 100) -> list[DeadLetterRecord]:
        return await self._dead_letters().list(service, limit)

    async def replay(self, service: str, letter_id: str) -> bool:
        return await self._dead_letters().replay(service, letter_id, self.publish)

    def _dead_letters(self) -> RabbitDeadLetters:
        return RabbitDeadLetters(
            self.url, self.dlq.name, namespace=self.namespace, timeout=self.publish_timeout
        )

    async def ready(self) -> bool:
        try:
            return await self.broker.ping(timeout=1.0)
        except OSError:
            return False

    async def stop_consumers(self) -> None:
        for subscriber in self.broker.subscribers:
            await subscriber.stop()

    async def close(self) -> None:
        await self.broker.stop()
