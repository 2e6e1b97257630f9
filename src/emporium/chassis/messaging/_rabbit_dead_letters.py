"""RabbitMQ's dead-letter queue, listed and replayed for an operator.

A queue can only be read by taking messages off it. :class:`RabbitDeadLetters`
does that on a connection of its own, with ``basic_get`` and no
acknowledgement, so closing the connection puts every letter back, in its
order. Replay acknowledges only the letter it republished, and only after the
broker confirmed the republish: a crash between the two leaves a duplicate,
which the inbox absorbs, never a loss. While a listing runs (milliseconds), the
letters it holds are invisible to another listing.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from emporium.chassis.messaging._transport import (
    DEAD_LETTER_CONSUMER,
    DEAD_LETTER_REASON,
    DELIVERY_COUNT,
    DeadLetterRecord,
    original_headers,
)
from emporium.chassis.messaging.envelope import (
    MESSAGE_ID_HEADER,
    MESSAGE_TYPE_HEADER,
    Envelope,
    subject_for,
)
from emporium.contracts import message_types

__all__ = ["DEAD_LETTER_ID", "RabbitDeadLetters", "header_text"]

DEAD_LETTER_ID = "x-dead-letter-id"
# Headers RabbitMQ adds when it dead-letters by itself (a TTL, a reject).
_BROKER_HEADERS = frozenset(
    {
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
_MOST = 10_000  # letters looked at per listing: a dead-letter queue is normally small

_Taken = tuple[AbstractIncomingMessage, dict[str, str], str]


def header_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _letter_id(message: AbstractIncomingMessage, headers: dict[str, str]) -> str:
    """Ours carry an id; one RabbitMQ dead-lettered by itself gets one from its content."""
    given = headers.get(DEAD_LETTER_ID)
    if given:
        return given
    digest = hashlib.sha256(message.body)
    digest.update((message.message_id or "").encode())
    digest.update(repr(sorted(headers.items())).encode())
    return digest.hexdigest()[:32]


class RabbitDeadLetters:
    """The dead letters of queue ``queue`` whose routing key is ``dlq.<namespace>.<service>.*``."""

    def __init__(self, url: str, queue: str, *, namespace: str, timeout: float) -> None:
        self.url = url
        self.queue = queue
        self.namespace = namespace
        self.timeout = timeout

    @asynccontextmanager
    async def _opened(self) -> AsyncIterator[AbstractQueue]:
        """The queue on a connection of its own; closing it requeues what was not acked."""
        connection = await aio_pika.connect(self.url, timeout=self.timeout)
        try:
            channel = await connection.channel()
            yield await channel.declare_queue(self.queue, passive=True)
        finally:
            await connection.close()

    async def _take(self, queue: AbstractQueue, service: str, stop: str = "") -> list[_Taken]:
        """Take (without acking) the service's letters, oldest first, up to the one ``stop``."""
        prefix = f"dlq.{self.namespace}.{service}."
        taken: list[_Taken] = []
        # Bounded by the depth when we looked: a letter arriving meanwhile waits for the next look.
        for _ in range(min(queue.declaration_result.message_count or 0, _MOST)):
            message = await queue.get(no_ack=False, fail=False, timeout=self.timeout)
            if message is None:
                break
            if not (message.routing_key or "").startswith(prefix):
                continue
            headers = {k: header_text(v) for k, v in (message.headers or {}).items()}
            letter_id = _letter_id(message, headers)
            taken.append((message, headers, letter_id))
            if letter_id == stop:
                break
        return taken

    async def list(self, service: str, limit: int) -> list[DeadLetterRecord]:
        """The service's dead letters, newest first; every one stays in the queue."""
        async with self._opened() as queue:
            taken = await self._take(queue, service)
        found = [
            DeadLetterRecord(
                id=letter_id,
                consumer=headers.get(DEAD_LETTER_CONSUMER, ""),
                message_type=headers.get(MESSAGE_TYPE_HEADER, ""),
                message_id=headers.get(MESSAGE_ID_HEADER, ""),
                reason=headers.get(DEAD_LETTER_REASON, headers.get("x-first-death-reason", "")),
                deliveries=int(headers.get(DELIVERY_COUNT, "0") or 0),
                payload=message.body,
                headers=headers,
            )
            for message, headers, letter_id in taken
        ]
        return found[::-1][:limit]

    async def replay(
        self, service: str, letter_id: str, publish: Callable[[Envelope], Awaitable[None]]
    ) -> bool:
        """Publish the letter's original message (same id) and drop it; False if unknown."""
        async with self._opened() as queue:
            taken = await self._take(queue, service, stop=letter_id)
            if not taken or taken[-1][2] != letter_id:
                return False
            message, headers, _ = taken[-1]
            kept = {
                k: v
                for k, v in original_headers(headers).items()
                if k != DEAD_LETTER_ID and k not in _BROKER_HEADERS
            }
            message_type = message_types().get(kept.get(MESSAGE_TYPE_HEADER, ""))
            if message_type is None:
                return False
            # The original message id (RabbitMQ does not deduplicate), so the inbox
            # of every consumer that already handled it drops it.
            await publish(
                Envelope(
                    subject=subject_for(message_type, self.namespace),
                    payload=message.body,
                    message_id=kept.get(MESSAGE_ID_HEADER, ""),
                    headers=kept,
                )
            )
            await message.ack()
        return True
