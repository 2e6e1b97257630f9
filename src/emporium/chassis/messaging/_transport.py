"""What the facade needs from a broker; one implementation per URL scheme."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from faststream.message import StreamMessage

from emporium.chassis.messaging.consumer import Consumer, DeadLetter
from emporium.chassis.messaging.envelope import Envelope

__all__ = [
    "DEAD_LETTER_CONSUMER",
    "DEAD_LETTER_REASON",
    "DELIVERY_COUNT",
    "DeadLetterRecord",
    "RawListener",
    "Transport",
    "current_message",
    "dead_letter_headers",
    "hear",
    "original_headers",
    "raw_body",
]

logger = logging.getLogger(__name__)

DEAD_LETTER_REASON = "x-dead-letter-reason"
DEAD_LETTER_CONSUMER = "x-dead-letter-consumer"
DELIVERY_COUNT = "x-delivery-count"


@dataclass(frozen=True)
class DeadLetterRecord:
    """One dead letter as an operator sees it; ``id`` is what :meth:`Transport.replay` takes."""

    id: str
    consumer: str
    message_type: str
    message_id: str
    reason: str
    deliveries: int
    payload: bytes
    headers: Mapping[str, str]

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "consumer": self.consumer,
            "type": self.message_type,
            "message_id": self.message_id,
            "reason": self.reason,
            "deliveries": self.deliveries,
            "payload": self.payload.decode(errors="replace")[:4000],
        }


def original_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A dead letter's headers without what dead-lettering added."""
    added = {DEAD_LETTER_REASON, DEAD_LETTER_CONSUMER, DELIVERY_COUNT}
    return {k: v for k, v in headers.items() if k not in added and not k.startswith("Nats-")}


RawListener = Callable[[bytes], Awaitable[None]]
"""Told the body of each message a listener hears."""


class Transport(ABC):
    """A connection to one broker, its topology, its publisher and consumers.

    Lifecycle: :meth:`connect` (declares the publish-side topology, so a
    publisher-only process works before any consumer exists; with
    ``declare=False`` only what listeners need, for a process that only
    listens and whose broker user may do nothing more), then
    :meth:`add_consumer` for each consumer and :meth:`start_consumers`, and
    finally :meth:`close`, which stops consuming, waits for handlers in
    flight and disconnects.
    """

    def __init__(self, url: str, *, namespace: str = "emporium") -> None:
        self.url = url
        self.namespace = namespace

    @abstractmethod
    async def connect(self, *, declare: bool = True) -> None: ...

    @abstractmethod
    def add_consumer(self, consumer: Consumer) -> None: ...

    @abstractmethod
    def add_listener(self, subject: str, listener: RawListener) -> None:
        """Hear every message on ``subject`` in this process, each replica its own copy.

        Unlike a consumer: nothing durable, no acknowledgement, no inbox, no
        retry; a message published while the process is away is never heard.
        For caches that only need to learn that something changed. Call before
        :meth:`start_consumers`.
        """

    @abstractmethod
    async def start_consumers(self) -> None: ...

    @abstractmethod
    async def stop_consumers(self) -> None:
        """Stop taking messages and wait (up to the graceful timeout) for handlers."""

    @abstractmethod
    async def publish(self, envelope: Envelope) -> None:
        """Publish durably; returns once the broker has the message (or raises)."""

    @abstractmethod
    async def ready(self) -> bool: ...

    async def list_dead_letters(self, service: str, limit: int = 100) -> list[DeadLetterRecord]:
        """The service's dead letters, newest first (a broker that cannot list them says so)."""
        raise NotImplementedError(f"{type(self).__name__} cannot list dead letters")

    async def replay(self, service: str, letter_id: str) -> bool:
        """Publish a dead letter's original envelope again and drop it; False if unknown."""
        raise NotImplementedError(f"{type(self).__name__} cannot replay dead letters")

    @abstractmethod
    async def lag(self, consumer: Consumer) -> int:
        """Messages waiting for ``consumer`` on the broker (delivered or not, unacknowledged)."""

    @abstractmethod
    async def close(self) -> None: ...


def dead_letter_headers(
    headers: Mapping[str, str], consumer: Consumer, outcome: DeadLetter, attempt: int
) -> dict[str, str]:
    """The original headers plus why, where and after how many deliveries."""
    return {
        **headers,
        DEAD_LETTER_REASON: outcome.error[:2000],
        DEAD_LETTER_CONSUMER: consumer.spec.name,
        DELIVERY_COUNT: str(attempt),
    }


async def hear(listener: RawListener, payload: bytes, subject: str) -> None:
    """Run a listener; what it raises is logged, never retried (listeners are best effort)."""
    try:
        await listener(payload)
    except Exception:
        logger.exception("a listener on %s failed", subject)


def current_message(broker: Any) -> Any:
    """The broker message being handled now (FastStream keeps it in its context).

    Read this way, not as a ``Context("message")`` argument: FastDepends
    resolves such an argument in a worker thread, a thread hop per message.
    """
    return broker.context.get_local("message")


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """FastStream decoder that leaves the body alone: the consumer parses it,
    and must see a malformed body itself to dead-letter it."""
    return message.body
