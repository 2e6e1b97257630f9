"""How a message looks on the wire, the same on every broker.

The body is the message's JSON. Headers carry what a consumer needs before it
parses the body (id, type, version) and the request/trace context. The message
id doubles as the broker's deduplication id (``Nats-Msg-Id`` on NATS,
``message_id`` on RabbitMQ), so a relay that publishes a row twice produces
at most one stored copy on NATS and, on RabbitMQ, a duplicate that the
consumer's inbox absorbs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from pydantic import ValidationError

from emporium.chassis.messaging.context import context_headers
from emporium.contracts._base import Message

__all__ = [
    "MESSAGE_ID_HEADER",
    "MESSAGE_TYPE_HEADER",
    "MESSAGE_VERSION_HEADER",
    "Envelope",
    "PoisonMessageError",
    "decode",
    "encode",
    "message_id_of",
    "subject_for",
]

MESSAGE_ID_HEADER = "x-message-id"
MESSAGE_TYPE_HEADER = "x-message-type"
MESSAGE_VERSION_HEADER = "x-message-version"

M = TypeVar("M", bound=Message)


class PoisonMessageError(ValueError):
    """A body that can never be handled (not JSON, or not the message class)."""


@dataclass(frozen=True)
class Envelope:
    """One message ready to publish: subject, JSON body, headers and ids.

    ``dedup_id`` is the id the broker deduplicates on; it equals
    ``message_id`` except in tests that need a genuine double delivery.
    """

    subject: str
    payload: bytes
    message_id: str
    headers: Mapping[str, str] = field(default_factory=dict)
    dedup_id: str = ""

    @property
    def broker_dedup_id(self) -> str:
        return self.dedup_id or self.message_id


def subject_for(message_type: type[Message], namespace: str = "emporium") -> str:
    """``<namespace>.<context>.<type>``; the namespace isolates test runs."""
    return f"{namespace}.{message_type.context}.{message_type.type}"


def encode(
    message: Message,
    *,
    namespace: str = "emporium",
    headers: Mapping[str, str] | None = None,
) -> Envelope:
    """The envelope for ``message``, with the current request/trace context."""
    all_headers = {
        **context_headers(),
        **(headers or {}),
        MESSAGE_ID_HEADER: str(message.id),
        MESSAGE_TYPE_HEADER: message.type,
        MESSAGE_VERSION_HEADER: str(message.version),
    }
    return Envelope(
        subject=subject_for(type(message), namespace),
        payload=message.model_dump_json().encode(),
        message_id=str(message.id),
        headers=all_headers,
    )


def decode(message_type: type[M], payload: bytes) -> M:
    """Parse ``payload`` into ``message_type``; a body that cannot be is poison."""
    try:
        data: Any = json.loads(payload)
        return message_type.model_validate(data)
    except (ValueError, ValidationError) as exc:
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors.
        raise PoisonMessageError(f"cannot parse {message_type.type}: {exc}") from exc


def message_id_of(headers: Mapping[str, str], payload: bytes) -> UUID | None:
    """The message id from headers, else from the body; ``None`` if neither has one."""
    raw = headers.get(MESSAGE_ID_HEADER)
    if raw is None:
        try:
            raw = json.loads(payload).get("id")
        except (ValueError, AttributeError):
            return None
    try:
        return UUID(str(raw))
    except ValueError:
        return None
