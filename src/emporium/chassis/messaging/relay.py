"""The outbox relay: publishes committed outbox rows, at least once.

One relay runs in each process that has an outbox. Rows are *claimed* with a
short lease in a short transaction, published with the message id as the
broker's dedup id, then marked published. A crash between publish and mark
leaves the row to be published again once the lease expires: at most a
duplicate, which NATS deduplicates and every consumer's inbox absorbs.

A claimed batch is published as one pipeline: every row's publish is sent, in
id order, before the first broker acknowledgement is awaited, so a batch costs
one round trip to the broker rather than one per row (decision 0024). Rows
are marked (or released) in one transaction per batch. Consumers never relied
on a total order: a consumer handles a fetched batch concurrently, and the
saga tolerates replies late, twice or out of order.

The relay is woken by commits in its own process (:meth:`OutboxRelay.notify`);
it also polls, for rows other processes left behind (a crashed relay's lease
expiring, a command-line tool's write). A poll that was not woken first asks,
read-only, whether anything is claimable, so an idle relay never takes the
database's write lock.

Several relays on one database do not publish the same row in the normal
case: on PostgreSQL and MariaDB the claim uses ``FOR UPDATE SKIP LOCKED``; on
SQLite the claiming ``UPDATE`` takes the database's single write lock first,
so claims are serialised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import uuid4

import sqlalchemy as sa

from emporium.chassis.backoff import Backoff
from emporium.chassis.clock import utcnow
from emporium.chassis.db import Database
from emporium.chassis.messaging.context import TRACEPARENT_HEADER
from emporium.chassis.messaging.envelope import Envelope
from emporium.chassis.messaging.metrics import (
    MESSAGES_PUBLISHED,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    RELAY_PUBLISHED,
)
from emporium.chassis.messaging.outbox import OUTBOX, row_envelope
from emporium.chassis.tracing import SpanKind, span, traceparent_of
from emporium.contracts._base import Message

__all__ = ["OutboxRelay"]

logger = logging.getLogger(__name__)

Publish = Callable[[Envelope], Awaitable[None]]
_LOCKING_DIALECTS = {"postgresql", "mysql", "mariadb"}


class OutboxRelay:
    """A background task that empties one database's outbox into the broker.

    Lifecycle: :meth:`start` launches the task, :meth:`notify` wakes it (the
    outbox calls it after a commit that added rows), :meth:`stop` finishes the
    batch in hand and returns. While the broker is down it retries with capped
    exponential backoff; rows stay in the table meanwhile.
    """

    def __init__(
        self,
        database: Database[Any],
        publish: Publish,
        *,
        service: str = "",
        table: sa.Table = OUTBOX,
        poll_interval: float = 0.5,
        batch_size: int = 100,
        # Short: a relay that died holding rows delays them by this much, and a
        # second publish after it is harmless (broker dedup id, consumer inbox).
        lease: timedelta = timedelta(seconds=5),
        retention: timedelta = timedelta(days=1),
        prune_interval: float = 60.0,
        backoff: Backoff | None = None,
        # The backlog gauges are refreshed at most this often, not per batch.
        backlog_interval: float = 1.0,
    ) -> None:
        self.database = database
        self.publish = publish
        self.service = service
        self.table = table
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.lease = lease
        self.retention = retention
        self.prune_interval = prune_interval
        self.backoff = backoff or Backoff(0.2, 10.0, jitter=0.5)
        self.backlog_interval = backlog_interval
        self._last_backlog = -backlog_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def notify(self) -> None:
        """Wake the relay now."""
        self._wake.set()

    def committed(self, _messages: Sequence[Message]) -> None:
        """The outbox's listener: a commit added rows, so wake the relay."""
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.service}")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(task, timeout=10.0)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        failures = 0
        last_prune = 0.0
        loop = asyncio.get_running_loop()
        woken = True  # the first pass claims whatever start-up finds
        while not self._stopping:
            self._wake.clear()
            try:
                if woken or await self.claimable():
                    published = await self.run_once()
                else:
                    published = 0
                failures = 0
                if loop.time() - last_prune >= self.prune_interval:
                    await self.prune()
                    last_prune = loop.time()
            except Exception as exc:
                failures += 1
                delay = self.backoff.delay(failures)
                logger.warning(
                    "outbox relay failed, backing off",
                    extra={"service": self.service, "error": repr(exc), "delay": delay},
                )
                await self._sleep(delay)
                woken = True
                continue
            woken = published >= self.batch_size or await self._sleep(self.poll_interval)

    async def _sleep(self, seconds: float) -> bool:
        """Wait for a wake-up or ``seconds``; True if woken."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
            return True
        return False

    async def claimable(self) -> bool:
        """Whether any row waits to be claimed (a read: no write lock taken)."""
        t = self.table
        query = sa.select(t.c.id).where(self._claimable(utcnow())).limit(1)
        async with self.database.session() as session:
            return (await session.execute(query)).first() is not None

    async def run_once(self) -> int:
        """Claim, publish and mark one batch; returns how many were published."""
        token = uuid4().hex
        rows = await self._claim(token)
        published: list[int] = []
        error: BaseException | None = None
        try:
            published, error = await self._publish_batch(rows)
        finally:
            # Mark what went out even if another row failed; release the rest
            # so the next pass (or another relay) takes them without waiting.
            sent = set(published)
            await self._settle(token, published, [r["id"] for r in rows if r["id"] not in sent])
            loop = asyncio.get_running_loop()
            if loop.time() - self._last_backlog >= self.backlog_interval:
                self._last_backlog = loop.time()
                await self._update_backlog()
        if published:
            RELAY_PUBLISHED.labels(service=self.service).inc(len(published))
            logger.debug("outbox rows published", extra={"count": len(published)})
        if error is not None:
            raise error
        return len(published)

    async def _publish_batch(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[list[int], BaseException | None]:
        """Publish ``rows`` as one pipeline: (ids the broker acknowledged, first error).

        The tasks start in id order and each sends before it first waits, so
        the publishes leave in id order; their acknowledgements are awaited
        together.
        """
        outcomes = await asyncio.gather(
            *(self._publish(row) for row in rows), return_exceptions=True
        )
        published = [
            row["id"] for row, outcome in zip(rows, outcomes, strict=True) if outcome is None
        ]
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        # A cancellation (stop) wins over an ordinary failure.
        cancelled = [e for e in errors if isinstance(e, asyncio.CancelledError)]
        return published, (cancelled or errors or [None])[0]

    async def _publish(self, row: Mapping[str, Any]) -> None:
        # The producer span continues the trace of the request that wrote the
        # row (its traceparent rides in the row), and replaces it in the
        # headers so the consumer's span is its child.
        envelope = row_envelope(row)
        attributes: dict[str, str] = {
            "messaging.system": "emporium",
            "messaging.destination.name": envelope.subject,
            "messaging.message.id": envelope.message_id,
            "message.type": row["type"],
        }
        payload = row["payload"]
        if isinstance(payload, dict) and isinstance(payload.get("order_id"), str):
            attributes["order_id"] = payload["order_id"]
        with span(
            f"publish {row['type']}",
            SpanKind.PRODUCER,
            parent=envelope.headers.get(TRACEPARENT_HEADER),
            remote_parent=True,
            attributes=attributes,
        ) as producer:
            if producer is not None:
                headers = {**envelope.headers, TRACEPARENT_HEADER: traceparent_of(producer)}
                envelope = replace(envelope, headers=headers)
            await self.publish(envelope)
        MESSAGES_PUBLISHED.labels(service=self.service, type=row["type"]).inc()

    def _claimable(self, now: Any) -> sa.ColumnElement[bool]:
        t = self.table
        return sa.and_(
            t.c.published_at.is_(None),
            sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until < now),
        )

    async def _claim(self, token: str) -> Sequence[Mapping[str, Any]]:
        t = self.table
        now = utcnow()
        claim = {
            "claimed_by": token,
            "claimed_until": now + self.lease,
            "attempts": t.c.attempts + 1,
        }
        oldest = (
            sa.select(t.c.id).where(self._claimable(now)).order_by(t.c.id).limit(self.batch_size)
        )
        # Claimed rows are read back by primary key or by RETURNING: the
        # outbox keeps published rows for a day, and nothing indexes
        # claimed_by, so reading them back by token scanned the whole table.
        async with self.database.unit_of_work() as uow:
            session = uow.session
            if self.database.dialect in _LOCKING_DIALECTS:
                ids = (
                    (await session.execute(oldest.with_for_update(skip_locked=True)))
                    .scalars()
                    .all()
                )
                if not ids:
                    return []
                await session.execute(sa.update(t).where(t.c.id.in_(ids)).values(**claim))
                # MariaDB has no UPDATE ... RETURNING; the ids are locked already.
                query = sa.select(t).where(t.c.id.in_(ids)).order_by(t.c.id)
                rows = [dict(row) for row in (await session.execute(query)).mappings()]
            else:
                # SQLite: a single UPDATE takes the write lock before reading,
                # so two relays cannot both see a row as unclaimed.
                claimed = await session.execute(
                    sa.update(t)
                    .where(t.c.id.in_(oldest.scalar_subquery()))
                    .values(**claim)
                    .returning(*t.c)
                )
                rows = sorted((dict(row) for row in claimed.mappings()), key=lambda r: r["id"])
            await uow.commit()
        return rows

    async def _settle(self, token: str, published: list[int], failed: list[int]) -> None:
        """One transaction: mark ``published`` rows, release ``failed`` ones."""
        if not published and not failed:
            return
        t = self.table
        mine = t.c.claimed_by == token
        async with self.database.unit_of_work() as uow:
            if published:
                await uow.session.execute(
                    sa.update(t)
                    .where(t.c.id.in_(published), mine)
                    .values(published_at=utcnow(), claimed_by=None, claimed_until=None)
                )
            if failed:
                await uow.session.execute(
                    sa.update(t)
                    .where(t.c.id.in_(failed), mine)
                    .values(claimed_by=None, claimed_until=None)
                )
            await uow.commit()

    async def _update_backlog(self) -> None:
        t = self.table
        async with self.database.session() as session:
            query = sa.select(sa.func.count(), sa.func.min(t.c.created_at)).where(
                t.c.published_at.is_(None)
            )
            backlog, oldest = (await session.execute(query)).one()
        OUTBOX_BACKLOG.labels(service=self.service).set(backlog)
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        OUTBOX_OLDEST_AGE.labels(service=self.service).set(max(age, 0.0))

    async def prune(self) -> int:
        """Delete rows published longer ago than the retention period."""
        t = self.table
        cutoff = utcnow() - self.retention
        async with self.database.unit_of_work() as uow:
            result = await uow.session.execute(sa.delete(t).where(t.c.published_at < cutoff))
            await uow.commit()
        return int(getattr(result, "rowcount", 0) or 0)
