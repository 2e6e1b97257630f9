"""NATS JetStream transport (``nats://``), through FastStream.

Topology: stream ``<NAMESPACE>`` on ``<namespace>.>`` (file storage, a
duplicate window so ``Nats-Msg-Id`` deduplicates relay re-publishes) and
stream ``<NAMESPACE>_DLQ`` on ``dlq.<namespace>.>``. Each consumer is a durable
pull consumer named after (service, message type), so replicas share it.
Retries use ``nak(delay)`` and the delivery count JetStream keeps in each
message's metadata: a failing message waits on the server, never in front of
the messages behind it.
"""

from __future__ import annotations

import logging
import re

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.message import NatsMessage
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError

from emporium.chassis.messaging import _nats_compat
from emporium.chassis.messaging._transport import (
    DEAD_LETTER_CONSUMER,
    DEAD_LETTER_REASON,
    DELIVERY_COUNT,
    DeadLetterRecord,
    RawListener,
    Transport,
    current_message,
    dead_letter_headers,
    hear,
    original_headers,
    raw_body,
)
from emporium.chassis.messaging.consumer import Ack, Consumer, DeadLetter, Delivery, Retry
from emporium.chassis.messaging.envelope import (
    MESSAGE_ID_HEADER,
    MESSAGE_TYPE_HEADER,
    Envelope,
    subject_for,
)
from emporium.chassis.messaging.metrics import MESSAGES_DEAD_LETTERED
from emporium.contracts import message_types

__all__ = ["NatsTransport", "stream_names"]

logger = logging.getLogger(__name__)

DEDUP_HEADER = "Nats-Msg-Id"
_DAY = 24 * 3600.0


def _stream_sequence(letter_id: str) -> int | None:
    """A dead letter's id is its DLQ stream sequence: 1 up to the stream's uint64 range."""
    if not letter_id.isascii() or not letter_id.isdigit():
        return None
    seq = int(letter_id)
    return seq if 0 < seq < 2**63 else None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def stream_names(namespace: str) -> tuple[str, str]:
    """The main and dead-letter stream names for a namespace."""
    main = _safe(namespace).upper()
    return main, f"{main}_DLQ"


class NatsTransport(Transport):
    """JetStream via FastStream; see the module docstring for the topology."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "emporium",
        # A message fetched by a process that then died is redelivered after
        # this long; keep it well inside a saga step's deadline. A slow handler
        # that outlives it is harmless: the inbox lets only one effect commit.
        ack_wait: float = 10.0,
        duplicate_window: float = 120.0,
        max_age: float = 7 * _DAY,
        graceful_timeout: float = 15.0,
        publish_timeout: float = 5.0,
        # How long one pull request waits on the server when the consumer has
        # nothing: messages are handed over the moment they arrive, so this
        # only sets how often an idle consumer asks again (decision 0024).
        pull_wait: float = 1.0,
    ) -> None:
        super().__init__(url, namespace=namespace)
        _nats_compat.install()  # a fetch that timed out must not look like a crash
        self.pull_wait = pull_wait
        self.stream, self.dlq_stream = stream_names(namespace)
        self.ack_wait = ack_wait
        self.duplicate_window = duplicate_window
        self.max_age = max_age
        self.publish_timeout = publish_timeout
        self.broker = NatsBroker(
            url,
            graceful_timeout=graceful_timeout,
            # FastStream's records go through the service's JSON log handler.
            logger=logging.getLogger("faststream"),
            log_level=logging.DEBUG,
            # Keep reconnecting for as long as the process lives; the relay and
            # readiness probe report the outage meanwhile.
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            # No FastDepends: it resolves a Context("message") argument in a
            # worker thread, one thread hop per message (decision 0024). The
            # handlers take the raw body and read the message from the context.
            apply_types=False,
        )

    async def connect(self, *, declare: bool = True) -> None:
        await self.broker.connect()
        if declare:  # a listener's core subscription needs no stream
            await self._declare()

    async def _declare(self) -> None:
        js = self.broker.config.connection_state.stream
        streams = [
            api.StreamConfig(
                name=self.stream,
                subjects=[f"{self.namespace}.>"],
                storage=api.StorageType.FILE,
                duplicate_window=self.duplicate_window,
                max_age=self.max_age,
            ),
            api.StreamConfig(
                name=self.dlq_stream,
                subjects=[f"dlq.{self.namespace}.>"],
                storage=api.StorageType.FILE,
                duplicate_window=self.duplicate_window,
                max_age=self.max_age,
            ),
        ]
        for config in streams:
            try:
                await js.add_stream(config)
            except BadRequestError as exc:
                # Another process declared it first with other limits: converge.
                if exc.err_code != 10058:  # stream name already in use
                    raise
                await js.update_stream(config)

    def add_consumer(self, consumer: Consumer) -> None:
        spec = consumer.spec
        durable = _safe(spec.name)
        subscriber = self.broker.subscriber(
            spec.subject,
            stream=JStream(self.stream, declare=False),
            durable=durable,
            pull_sub=PullSub(batch_size=10, timeout=self.pull_wait),
            config=api.ConsumerConfig(
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait,
                deliver_policy=api.DeliverPolicy.ALL,
                filter_subject=spec.subject,
                # Our code dead-letters; the server must never drop silently.
                max_deliver=-1,
            ),
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_body,
        )

        async def on_message(_body: bytes) -> None:
            await self._handle(consumer, current_message(self.broker))

        subscriber(on_message)

    def add_listener(self, subject: str, listener: RawListener) -> None:
        # A core NATS subscription: JetStream publishes are plain NATS messages
        # on their subject too, so every subscribed process hears each one,
        # with no consumer state on the server. no_reply: a JetStream publish
        # is a request whose answer must be the stream's acknowledgement;
        # FastStream would otherwise answer it too, with the listener's None,
        # and the publisher, taking whichever answer came first, would fail
        # on an empty body.
        subscriber = self.broker.subscriber(subject, decoder=raw_body, no_reply=True)

        async def on_message(body: bytes) -> None:
            await hear(listener, body, subject)

        subscriber(on_message)

    async def _handle(self, consumer: Consumer, message: NatsMessage) -> None:
        raw = message.raw_message
        attempt = raw.metadata.num_delivered or 1
        headers = dict(raw.headers or {})
        delivery = Delivery(payload=raw.data, headers=headers, attempt=attempt)
        outcome = await consumer.process(delivery)
        if isinstance(outcome, Ack):
            await message.ack()
        elif isinstance(outcome, Retry):
            await message.nack(delay=outcome.delay)
        else:
            try:
                await self._dead_letter(consumer, delivery, outcome)
            except Exception:
                # Keep the message rather than lose it; it comes back and the
                # dead-lettering is tried again.
                logger.exception("dead-lettering failed", extra={"consumer": consumer.spec.name})
                await message.nack(delay=consumer.spec.backoff.cap)
                return
            await message.ack()

    async def _dead_letter(
        self, consumer: Consumer, delivery: Delivery, outcome: DeadLetter
    ) -> None:
        headers = dead_letter_headers(delivery.headers, consumer, outcome, delivery.attempt)
        await self.broker.publish(
            delivery.payload,
            consumer.spec.dead_letter_subject,
            headers=headers,
            stream=self.dlq_stream,
            timeout=self.publish_timeout,
        )
        MESSAGES_DEAD_LETTERED.labels(consumer=consumer.spec.name).inc()

    async def start_consumers(self) -> None:
        await self.broker.start()
        # A listener's core subscription is only a SUB sent on the connection;
        # a PING answered means the server has taken it, so a message another
        # process publishes once this service is ready is heard. Without it a
        # replica that had just started could miss another's change event.
        await self.broker.config.connection_state.connection.flush(timeout=5)

    async def publish(self, envelope: Envelope) -> None:
        headers = {**envelope.headers, DEDUP_HEADER: envelope.broker_dedup_id}
        await self.broker.publish(
            envelope.payload,
            envelope.subject,
            headers=headers,
            stream=self.stream,
            timeout=self.publish_timeout,
        )

    async def list_dead_letters(self, service: str, limit: int = 100) -> list[DeadLetterRecord]:
        js = self.broker.config.connection_state.stream
        state = (await js.stream_info(self.dlq_stream)).state
        prefix = f"dlq.{self.namespace}.{service}."
        found: list[DeadLetterRecord] = []
        # Newest first; a small DLQ is the normal case, so a bounded scan is enough.
        for seq in range(state.last_seq, max(state.first_seq, state.last_seq - 1000) - 1, -1):
            if len(found) >= limit or seq <= 0:
                break
            try:
                raw = await js.get_msg(self.dlq_stream, seq)
            except NotFoundError:
                continue
            if raw.subject is None or not raw.subject.startswith(prefix):
                continue
            headers = dict(raw.headers or {})
            found.append(
                DeadLetterRecord(
                    id=str(seq),
                    consumer=headers.get(DEAD_LETTER_CONSUMER, ""),
                    message_type=headers.get(MESSAGE_TYPE_HEADER, ""),
                    message_id=headers.get(MESSAGE_ID_HEADER, ""),
                    reason=headers.get(DEAD_LETTER_REASON, ""),
                    deliveries=int(headers.get(DELIVERY_COUNT, "0") or 0),
                    payload=raw.data or b"",
                    headers=headers,
                )
            )
        return found

    async def replay(self, service: str, letter_id: str) -> bool:
        js = self.broker.config.connection_state.stream
        seq = _stream_sequence(letter_id)
        if seq is None:
            return False
        try:
            raw = await js.get_msg(self.dlq_stream, seq)
        except (NotFoundError, BadRequestError):
            return False
        if raw.subject is None or not raw.subject.startswith(f"dlq.{self.namespace}.{service}."):
            return False
        headers = original_headers(dict(raw.headers or {}))
        message_type = message_types().get(headers.get(MESSAGE_TYPE_HEADER, ""))
        if message_type is None:
            return False
        # The original message id (the inbox deduplicates on it), but a fresh
        # broker dedup id: inside the duplicate window NATS would drop it.
        await self.publish(
            Envelope(
                subject=subject_for(message_type, self.namespace),
                payload=raw.data or b"",
                message_id=headers.get(MESSAGE_ID_HEADER, ""),
                headers=headers,
                dedup_id=f"{headers.get(MESSAGE_ID_HEADER, '')}:replay:{letter_id}",
            )
        )
        await js.delete_msg(self.dlq_stream, seq)
        return True

    async def lag(self, consumer: Consumer) -> int:
        js = self.broker.config.connection_state.stream
        info = await js.consumer_info(self.stream, _safe(consumer.spec.name))
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def ready(self) -> bool:
        try:
            return await self.broker.ping(timeout=1.0)
        except (TimeoutError, OSError):
            return False

    async def stop_consumers(self) -> None:
        for subscriber in self.broker.subscribers:
            await subscriber.stop()

    async def close(self) -> None:
        await self.broker.stop()
