"""The transactional outbox: integration events are rows before they are messages.

A service adds an event in the same unit of work as its business change
(:meth:`Outbox.add`); both commit or neither does. The relay
(:mod:`emporium.chassis.messaging.relay`) publishes the rows later. After the
transaction commits, :class:`Outbox` wakes the relay of this process so that
publishing is prompt; rows written by other processes are found by polling.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis.clock import utcnow
from emporium.chassis.db import Base
from emporium.chassis.messaging.envelope import Envelope, encode
from emporium.contracts._base import Message

__all__ = ["OUTBOX", "Outbox", "make_outbox_table"]

logger = logging.getLogger(__name__)


def make_outbox_table(metadata: sa.MetaData, name: str = "outbox") -> sa.Table:
    """The outbox table; tests make uniquely named ones on shared databases."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("published_at", sa.DateTime, nullable=True, index=True),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        # A relay's lease on the row while it publishes it: another relay may
        # take the row only once the lease has expired (the first crashed).
        sa.Column("claimed_by", sa.String(32), nullable=True),
        sa.Column("claimed_until", sa.DateTime, nullable=True),
    )


OUTBOX = make_outbox_table(Base.metadata)


def row_values(envelope: Envelope, message_type: str) -> dict[str, Any]:
    return {
        "message_id": envelope.message_id,
        "subject": envelope.subject,
        "type": message_type,
        "payload": json.loads(envelope.payload),
        "headers": dict(envelope.headers),
        "created_at": utcnow(),
        "attempts": 0,
    }


def row_envelope(row: Mapping[str, Any]) -> Envelope:
    """Rebuild the envelope the row was made from."""
    return Envelope(
        subject=row["subject"],
        payload=json.dumps(row["payload"], separators=(",", ":")).encode(),
        message_id=row["message_id"],
        headers=dict(row["headers"]),
    )


class Outbox:
    """Adds messages to the outbox table of one service's database.

    Promise: :meth:`add` writes nothing outside the caller's transaction; if the
    caller rolls back, the message never existed. Listeners (the relay) are
    called after a transaction that added rows commits.
    """

    def __init__(self, *, namespace: str = "emporium", table: sa.Table = OUTBOX) -> None:
        self.namespace = namespace
        self.table = table
        self._listeners: list[Callable[[Sequence[Message]], None]] = []

    def subscribe(self, listener: Callable[[Sequence[Message]], None]) -> None:
        """Call ``listener`` with the messages of every transaction that added
        some, once it has committed (the relay wakes; a read model forgets)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Sequence[Message]], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def add(
        self,
        session: AsyncSession,
        message: Message,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Add ``message`` to the outbox in ``session``'s transaction (no commit)."""
        envelope = encode(message, namespace=self.namespace, headers=headers)
        await session.execute(sa.insert(self.table).values(row_values(envelope, message.type)))
        self._notify_after_commit(session, message)

    def _notify_after_commit(self, session: AsyncSession, message: Message) -> None:
        # Listeners live as long as the session (one per unit of work); the
        # pending list (the transaction's messages) makes them fire only for
        # transactions that added rows.
        sync_session = session.sync_session
        pending = ("emporium.outbox.pending", id(self))
        registered = ("emporium.outbox.listening", id(self))
        sync_session.info.setdefault(pending, []).append(message)
        if sync_session.info.get(registered):
            return
        sync_session.info[registered] = True

        def after_commit(_session: Any) -> None:
            added: list[Message] | None = sync_session.info.pop(pending, None)
            if added:
                for listener in list(self._listeners):
                    listener(added)

        # SQLAlchemy calls after_soft_rollback(session, previous_transaction).
        def after_rollback(_session: Any, _previous: Any) -> None:
            sync_session.info.pop(pending, None)

        sa.event.listen(sync_session, "after_commit", after_commit)
        sa.event.listen(sync_session, "after_soft_rollback", after_rollback)
