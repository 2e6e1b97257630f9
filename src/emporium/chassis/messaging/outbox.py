"""The transactional outbox: integration events are rows before they are messages.

A service adds an event in the same unit of work as its business change
(:meth:`Outbox.add`); both commit or neither does. The relay
(:mod:`emporium.chassis.messaging.relay`) publishes the rows later.

When a relay runs in the same process it is the outbox's *taker*
(:meth:`Outbox.hand_over_to`): each row is written already claimed by that
relay, with the usual short lease, and once the transaction commits the
outbox hands the rows themselves to it, so the relay publishes them without
claiming or reading them back (decision 0029). A row written while no relay
takes it is written unclaimed, and rows written by other processes are found
by polling.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis.clock import utcnow
from emporium.chassis.db import Base
from emporium.chassis.messaging.envelope import Envelope, encode
from emporium.contracts._base import Message

__all__ = ["OUTBOX", "Outbox", "Taker", "Written", "make_outbox_table"]

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


@dataclass(frozen=True)
class Written:
    """A committed outbox row as its writer knew it: what the relay publishes."""

    envelope: Envelope
    type: str
    order_id: str | None
    claimed_by: str | None
    """The taker's token if the row was written claimed by it, else None."""


class Taker(Protocol):
    """A relay that takes the rows its process writes (see :meth:`Outbox.hand_over_to`)."""

    def claim_on_write(self) -> tuple[str, datetime] | None:
        """``(token, lease end)`` to write a row claimed by the relay, or None
        (not running, failing, or too far behind): the row is written unclaimed."""
        ...

    def written(self, rows: Sequence[Written]) -> None:
        """A transaction that added ``rows`` committed."""
        ...


class Outbox:
    """Adds messages to the outbox table of one service's database.

    Promise: :meth:`add` writes nothing outside the caller's transaction; if the
    caller rolls back, the message never existed. Listeners and the taker are
    called after a transaction that added rows commits.
    """

    def __init__(self, *, namespace: str = "emporium", table: sa.Table = OUTBOX) -> None:
        self.namespace = namespace
        self.table = table
        # One statement for every row: SQLAlchemy compiles it once, where a
        # statement built with each row's values is keyed and looked up anew.
        self._insert = sa.insert(table)
        self._listeners: list[Callable[[Sequence[Message]], None]] = []
        self._taker: Taker | None = None

    def hand_over_to(self, taker: Taker | None) -> None:
        """Write rows claimed by ``taker`` and hand them to it after commit
        (None: write them unclaimed, for whichever relay polls first)."""
        self._taker = taker

    def subscribe(self, listener: Callable[[Sequence[Message]], None]) -> None:
        """Call ``listener`` with the messages of every transaction that added
        some, once it has committed (a read model forgets what they change)."""
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
        values = row_values(envelope, message.type)
        taker = self._taker
        claim = taker.claim_on_write() if taker is not None else None
        if claim is not None:
            values.update(claimed_by=claim[0], claimed_until=claim[1], attempts=1)
        await session.execute(self._insert, values)
        order_id = getattr(message, "order_id", None)
        row = Written(
            envelope=envelope,
            type=message.type,
            order_id=None if order_id is None else str(order_id),
            claimed_by=None if claim is None else claim[0],
        )
        self._notify_after_commit(session, message, row)

    def _notify_after_commit(self, session: AsyncSession, message: Message, row: Written) -> None:
        # Listeners live as long as the session (one per unit of work); the
        # pending list (the transaction's messages and rows) makes them fire
        # only for transactions that added rows.
        sync_session = session.sync_session
        pending = ("emporium.outbox.pending", id(self))
        registered = ("emporium.outbox.listening", id(self))
        sync_session.info.setdefault(pending, []).append((message, row))
        if sync_session.info.get(registered):
            return
        sync_session.info[registered] = True

        def after_commit(_session: Any) -> None:
            added: list[tuple[Message, Written]] | None = sync_session.info.pop(pending, None)
            if not added:
                return
            if self._taker is not None:
                self._taker.written([row for _, row in added])
            messages = [message for message, _ in added]
            for listener in list(self._listeners):
                listener(messages)

        # SQLAlchemy calls after_soft_rollback(session, previous_transaction).
        def after_rollback(_session: Any, _previous: Any) -> None:
            sync_session.info.pop(pending, None)

        sa.event.listen(sync_session, "after_commit", after_commit)
        sa.event.listen(sync_session, "after_soft_rollback", after_rollback)
