"""What the facade needs from a broker; one implementation per URL scheme."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from faststream.message import StreamMessage

from emporium.chassis.messaging.consumer import Consumer, DeadLetter
from emporium.chassis.messaging.envelope import Envelope

__all__ = [
    "DEAD_LETTER_CONSUMER",
    "DEAD_LETTER_REASON",
    "DELIVERY_COUNT",
    "Transport",
    "dead_letter_headers",
    "raw_body",
]

DEAD_LETTER_REASON = "x-dead-letter-reason"
DEAD_LETTER_CONSUMER = "x-dead-letter-consumer"
DELIVERY_COUNT = "x-delivery-count"


class Transport(ABC):
    """A connection to one broker, its topology, its publisher and consumers.

    Lifecycle: :meth:`connect` (declares the publish-side topology, so a
    publisher-only process works before any consumer exists), then
    :meth:`add_consumer` for each consumer and :meth:`start_consumers`, and
    finally :meth:`close`, which stops consuming, waits for handlers in
    flight and disconnects.
    """

    def __init__(self, url: str, *, namespace: str = "emporium") -> None:
        self.url = url
        self.namespace = namespace

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    def add_consumer(self, consumer: Consumer) -> None: ...

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


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """FastStream decoder that leaves the body alone: the consumer parses it,
    and must see a malformed body itself to dead-letter it."""
    return message.body
