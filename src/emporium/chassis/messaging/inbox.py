"""The inbox: which messages a consumer has already applied.

A row (consumer, message id) is inserted in the same transaction as the
handler's effect, so "effect applied" and "message recorded" commit together.
The primary key makes a concurrent second insert fail: of two replicas handling
the same message at once, one commits and the other rolls back.

:meth:`Inbox.claim` asks "seen before?" and records the id in one statement
where the database can say so (``INSERT ... ON CONFLICT DO NOTHING`` on SQLite
and PostgreSQL): a consumed message costs one inbox round trip, not two.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis.clock import Clock, utcnow
from emporium.chassis.db import Base, Database
from emporium.chassis.periodic import Periodic

__all__ = ["INBOX", "Inbox", "InboxPruner", "make_inbox_table"]


def make_inbox_table(metadata: sa.MetaData, name: str = "inbox") -> sa.Table:
    """The inbox table; tests make uniquely named ones on shared databases."""
    return sa.Table(
        name,
        metadata,
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("message_id", sa.String(36), primary_key=True),
        # Indexed for the pruner, whose hourly delete would otherwise read
        # a week of rows (and hold SQLite's write lock while it does).
        sa.Column("processed_at", sa.DateTime, nullable=False, index=True),
    )


INBOX = make_inbox_table(Base.metadata)


class Inbox:
    """Reads and records processed message ids in one service's database."""

    def __init__(self, table: sa.Table = INBOX) -> None:
        self.table = table
        # Built once, the values bound per call: a statement made with each
        # message's values is keyed for the compiled cache anew every time,
        # which cost as much as running it (165 against 80 µs a claim).
        self._insert = sa.insert(table)
        self._insert_new = {
            "sqlite": sqlite.insert(table).on_conflict_do_nothing(),
            "postgresql": postgresql.insert(table).on_conflict_do_nothing(),
        }

    async def contains(self, session: AsyncSession, consumer: str, message_id: UUID) -> bool:
        query = sa.select(sa.literal(1)).where(
            self.table.c.consumer == consumer,
            self.table.c.message_id == str(message_id),
        )
        return (await session.execute(query)).first() is not None

    async def claim(self, session: AsyncSession, consumer: str, message_id: UUID) -> bool:
        """Record the id unless it is there already; True if recorded now (a new message).

        One statement on SQLite and PostgreSQL. There, a concurrent transaction
        holding the same uncommitted row makes this wait for it, then see it
        (False) or, if it rolled back, insert (True). Elsewhere (MariaDB, whose
        ``INSERT IGNORE`` would also swallow unrelated errors) a read, then the
        insert, whose primary key stops a concurrent duplicate.
        """
        values = {
            "consumer": consumer,
            "message_id": str(message_id),
            "processed_at": utcnow(),
        }
        dialect = session.bind.dialect.name if session.bind is not None else ""
        insert_new = self._insert_new.get(dialect)
        if insert_new is not None:
            result = await session.execute(insert_new, values)
            return int(getattr(result, "rowcount", 0) or 0) == 1
        if await self.contains(session, consumer, message_id):
            return False
        await session.execute(self._insert, values)
        return True

    async def record(self, session: AsyncSession, consumer: str, message_id: UUID) -> None:
        """Insert the row now (flushes), so a concurrent duplicate fails early."""
        await session.execute(
            sa.insert(self.table).values(
                consumer=consumer, message_id=str(message_id), processed_at=utcnow()
            )
        )

    async def prune(self, session: AsyncSession, older_than: datetime) -> int:
        result = await session.execute(
            sa.delete(self.table).where(self.table.c.processed_at < older_than)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class InboxPruner(Periodic):
    """Deletes inbox rows older than ``retention``, every ``interval`` seconds.

    The inbox only has to remember a message id for as long as the broker may
    deliver that message again (redeliveries and retries span minutes), so the
    retention (default a week, ``EMPORIUM_INBOX_RETENTION_HOURS``) is far
    longer than that window; without pruning the table grows forever.
    Replaying a dead letter older than the retention would apply it again:
    replay within the retention.
    """

    done = "pruned %d inbox rows"

    def __init__(
        self,
        database: Database[Any],
        inbox: Inbox,
        *,
        retention: timedelta,
        interval: float = 3600.0,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(name="inbox-pruner", interval=interval)
        self.database = database
        self.inbox = inbox
        self.retention = retention
        self.clock = clock

    async def run_once(self) -> int:
        async with self.database.unit_of_work() as uow:
            pruned = await self.inbox.prune(uow.session, self.clock() - self.retention)
            await uow.commit()
        return pruned
