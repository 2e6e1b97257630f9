"""Broker-agnostic consuming: decode, deduplicate, handle, and decide the outcome.

A transport (NATS or RabbitMQ) turns each received message into a
:class:`Delivery`, asks :meth:`Consumer.process` what to do, and carries the
:data:`Outcome` out: acknowledge, retry after a delay, or dead-letter.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError

from emporium.chassis.backoff import Backoff
from emporium.chassis.db import Database
from emporium.chassis.messaging.context import TRACEPARENT_HEADER, bound_context
from emporium.chassis.messaging.envelope import PoisonMessageError, decode, subject_for
from emporium.chassis.messaging.inbox import Inbox
from emporium.chassis.messaging.metrics import (
    MESSAGES_CONSUMED,
    MESSAGES_DUPLICATE,
    MESSAGES_FAILED,
    MESSAGES_RETRIED,
)
from emporium.chassis.tracing import SpanKind, mark_error, span
from emporium.contracts._base import Message

__all__ = [
    "Ack",
    "Consumer",
    "ConsumerSpec",
    "DeadLetter",
    "Delivery",
    "Handler",
    "Outcome",
    "Retry",
]

logger = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Awaitable[None]]
"""``async def handler(message: SomeEvent, uow: ServiceUnitOfWork) -> None``; never commits.

The second argument is the unit of work the service's ``Database`` makes (the
chassis :class:`~emporium.chassis.db.UnitOfWork` or the service's subclass
with its repositories), so it is typed per service, not here.
"""


@dataclass(frozen=True)
class ConsumerSpec:
    """One durable subscription: a service's interest in one message type.

    ``name`` is shared by every replica of the service, so they split the
    messages between them, while each other service has its own name and so
    gets every message.
    """

    service: str
    message_type: type[Message]
    namespace: str = "emporium"
    max_deliveries: int = 5
    backoff: Backoff = field(default_factory=lambda: Backoff(0.5, 30.0))

    @property
    def name(self) -> str:
        return f"{self.service}.{self.message_type.type}"

    @property
    def subject(self) -> str:
        return subject_for(self.message_type, self.namespace)

    @property
    def dead_letter_subject(self) -> str:
        return f"dlq.{self.namespace}.{self.name}"

    def retry_delays(self) -> list[float]:
        """Every delay a retry may use (RabbitMQ declares one queue per delay)."""
        return self.backoff.delays(max(self.max_deliveries - 1, 1))


@dataclass(frozen=True)
class Delivery:
    """A received message as the transport saw it; ``attempt`` counts from 1."""

    payload: bytes
    headers: Mapping[str, str]
    attempt: int


@dataclass(frozen=True)
class Ack:
    duplicate: bool = False


@dataclass(frozen=True)
class Retry:
    delay: float
    error: str


@dataclass(frozen=True)
class DeadLetter:
    error: str


Outcome = Ack | Retry | DeadLetter


class Consumer:
    """Runs one handler with exactly-once effect per message id.

    The inbox row and the handler's effect commit in one transaction. A message
    already in the inbox is acknowledged without running the handler; a
    concurrent duplicate loses on the inbox's primary key and is acknowledged
    too. A handler that raises is retried with ``spec.backoff`` until
    ``spec.max_deliveries`` attempts, then dead-lettered; a body that cannot be
    parsed is dead-lettered at once.
    """

    def __init__(
        self,
        spec: ConsumerSpec,
        handler: Handler,
        database: Database[Any],
        inbox: Inbox | None = None,
    ) -> None:
        self.spec = spec
        self.handler = handler
        self.database = database
        self.inbox = inbox or Inbox()

    async def process(self, delivery: Delivery) -> Outcome:
        name = self.spec.name
        try:
            message = decode(self.spec.message_type, delivery.payload)
        except PoisonMessageError as exc:
            logger.error("unparseable message", extra={"consumer": name, "error": str(exc)})
            return DeadLetter(str(exc))
        log = {"consumer": name, "message_id": str(message.id), "attempt": delivery.attempt}
        attributes: dict[str, str | int] = {
            "messaging.consumer.group.name": name,
            "messaging.message.id": str(message.id),
            "message.type": message.type,
            "attempt": delivery.attempt,
        }
        if isinstance(order_id := getattr(message, "order_id", None), UUID | str):
            attributes["order_id"] = str(order_id)
        with (
            bound_context(delivery.headers),
            span(
                f"process {message.type}",
                SpanKind.CONSUMER,
                parent=delivery.headers.get(TRACEPARENT_HEADER),
                remote_parent=True,
                attributes=attributes,
            ) as consumer,
        ):
            try:
                duplicate = await self._apply(message)
            except Exception as exc:
                if isinstance(exc, IntegrityError) and await self._recorded(message):
                    duplicate = True
                else:
                    mark_error(consumer, f"{type(exc).__name__}: {exc}")
                    return self._failed(delivery, exc, log)
            if consumer is not None:
                consumer.set_attribute("duplicate", duplicate)
        if duplicate:
            MESSAGES_DUPLICATE.labels(consumer=name).inc()
            logger.info("duplicate message acknowledged", extra=log)
        else:
            MESSAGES_CONSUMED.labels(consumer=name).inc()
            logger.debug("message handled", extra=log)
        return Ack(duplicate=duplicate)

    async def _apply(self, message: Message) -> bool:
        """Run the handler in one transaction with the inbox row; True if a duplicate."""
        async with self.database.unit_of_work() as uow:
            # Record first: a concurrent replica with the same message blocks or
            # fails here rather than after doing the handler's work.
            if not await self.inbox.claim(uow.session, self.spec.name, message.id):
                return True
            await self.handler(message, uow)
            await uow.commit()
        return False

    async def _recorded(self, message: Message) -> bool:
        # Tells "another replica won the race" from a constraint the handler broke.
        async with self.database.unit_of_work() as uow:
            return await self.inbox.contains(uow.session, self.spec.name, message.id)

    def _failed(self, delivery: Delivery, exc: Exception, log: dict[str, Any]) -> Outcome:
        MESSAGES_FAILED.labels(consumer=self.spec.name).inc()
        error = f"{type(exc).__name__}: {exc}"
        if delivery.attempt >= self.spec.max_deliveries:
            logger.error("handler failed, dead-lettering", extra={**log, "error": error})
            return DeadLetter(error)
        delay = self.spec.backoff.delay(delivery.attempt)
        MESSAGES_RETRIED.labels(consumer=self.spec.name).inc()
        logger.warning("handler failed, will retry", extra={**log, "error": error, "delay": delay})
        return Retry(delay, error)
