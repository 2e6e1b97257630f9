"""The outbox relay: publishes committed outbox rows, at least once.

One relay runs in each process that has an outbox. A row is published while
the relay holds a short *lease* on it, with the message id as the broker's
dedup id, then marked published. A crash between publish and mark leaves the
row to be published again once the lease expires: at most a duplicate, which
NATS deduplicates and every consumer's inbox absorbs.

Rows reach the relay two ways:

- **Handed over** (decision 0029). The relay is its process's outbox's taker:
  each row is written already leased to the relay, in the transaction that
  writes it, and after the commit the outbox hands the rows to the relay,
  which publishes them as they are, with no claiming transaction and no read.
- **Claimed.** Rows nobody holds (written by another process, written while
  this relay was failing, or whose lease expired because their writer died)
  are *claimed* with a lease in a short transaction. A commit that added an
  unclaimed row wakes the relay to claim; it also polls. A poll asks first,
  read-only, whether anything is claimable, so an idle relay never takes the
  database's write lock.

Either way a batch is published as one pipeline: every row's publish is sent,
in order, before the first broker acknowledgement is awaited, so a batch costs
one round trip to the broker rather than one per row (decision 0024). Claimed
rows are marked (or released) in one transaction per batch; handed-over rows
that went out are marked together, within ``mark_interval`` (0.1 s), and a
failed one is released at once. Consumers never relied
on a total order: a consumer handles a fetched batch concurrently, and the
saga tolerates replies late, twice or out of order.

Several relays on one database do not publish the same row in the normal
case: a handed-over row is leased from its first moment; on PostgreSQL and
MariaDB the claim uses ``FOR UPDATE SKIP LOCKED``; on SQLite the claiming
``UPDATE`` takes the database's single write lock first, so claims are
serialised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
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
from emporium.chassis.messaging.outbox import OUTBOX, Written, row_envelope
from emporium.chassis.tracing import SpanKind, span, traceparent_of

__all__ = ["OutboxRelay"]

logger = logging.getLogger(__name__)

Publish = Callable[[Envelope], Awaitable[None]]
_LOCKING_DIALECTS = {"postgresql", "mysql", "mariadb"}


@dataclass(frozen=True)
class _Pending:
    """One row to publish: ``key`` is its id (claimed) or message id (handed over)."""

    key: int | str
    envelope: Envelope
    type: str
    order_id: str | None


def _from_row(row: Mapping[str, Any]) -> _Pending:
    payload = row["payload"]
    order_id = payload.get("order_id") if isinstance(payload, dict) else None
    return _Pending(
        key=row["id"],
        envelope=row_envelope(row),
        type=row["type"],
        order_id=order_id if isinstance(order_id, str) else None,
    )


class OutboxRelay:
    """A background task that empties one database's outbox into the broker.

    Lifecycle: :meth:`start` launches the task; the outbox hands it rows
    (:meth:`written`, which also wakes it to claim a row written unclaimed);
    :meth:`stop` finishes the batch in hand, releases the rows handed over
    and not yet sent, and returns. While the broker is down it retries with
    capped exponential backoff and takes no rows on write; rows stay in the
    table meanwhile.
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
        # Handed-over rows that went out are marked together, at most this
        # long after the first of them (or once a batch's worth has gone out).
        mark_interval: float = 0.1,
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
        self.mark_interval = mark_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Rows handed over by this process's outbox, in commit order; the
        # token they were written with is this relay's while it runs.
        self._token = uuid4().hex
        self._handed: list[_Pending] = []
        # Handed-over rows published and not yet marked, and when to mark them.
        self._sent: list[int | str] = []
        self._mark_by: float | None = None
        self._claim_due = False
        self._failing = False

    def claim_on_write(self) -> tuple[str, datetime] | None:
        """The outbox's question before it writes a row (see :class:`Taker`).

        No while the relay is not running or is failing (the rows then wait
        for a claim, after the backoff, not for a lease to expire), nor while
        ten batches already wait in memory.
        """
        if self._task is None or self._stopping or self._failing:
            return None
        if len(self._handed) >= 10 * self.batch_size:
            return None
        return self._token, utcnow() + self.lease

    def written(self, rows: Sequence[Written]) -> None:
        """The outbox's hand-over: a transaction that added ``rows`` committed."""
        for row in rows:
            if row.claimed_by == self._token and not self._stopping:
                self._handed.append(
                    _Pending(row.envelope.message_id, row.envelope, row.type, row.order_id)
                )
            else:
                # Unclaimed, or leased to a relay this one replaced: claim it.
                self._claim_due = True
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
        # Mark what went out, and release what was handed over and not sent:
        # the next start, or another replica, claims it at once instead of
        # after the lease.
        unsent, self._handed = [row.key for row in self._handed], []
        try:
            await self._mark_sent(unsent)
        except Exception as exc:
            # Still leased: claimed once the lease ends, and sent again at worst.
            logger.warning(
                "outbox rows not marked on stop",
                extra={"service": self.service, "count": len(unsent), "error": repr(exc)},
            )

    async def _run(self) -> None:
        failures = 0
        last_prune = 0.0
        loop = asyncio.get_running_loop()
        self._claim_due = True  # the first pass claims whatever start-up finds
        # Polls keep their interval however busy the hand-overs keep the relay.
        next_poll = loop.time() + self.poll_interval
        while not self._stopping:
            self._wake.clear()
            try:
                if self._handed:
                    await self._publish_handed()
                if self._mark_by is not None and loop.time() >= self._mark_by:
                    await self._mark_sent()
                claimed = 0
                poll_due = loop.time() >= next_poll
                if poll_due:
                    next_poll = loop.time() + self.poll_interval
                if self._claim_due or (poll_due and await self.claimable()):
                    self._claim_due = False
                    claimed = await self.run_once()
                failures, self._failing = 0, False
                if loop.time() - last_prune >= self.prune_interval:
                    await self.prune()
                    last_prune = loop.time()
            except Exception as exc:
                failures += 1
                self._failing = True
                delay = self.backoff.delay(failures)
                logger.warning(
                    "outbox relay failed, backing off",
                    extra={"service": self.service, "error": repr(exc), "delay": delay},
                )
                await self._back_off(delay)
                self._claim_due = True
                continue
            if claimed >= self.batch_size:
                self._claim_due = True  # a full batch: more may wait
            if not (self._handed or self._claim_due):
                until = next_poll if self._mark_by is None else min(next_poll, self._mark_by)
                await self._sleep(max(until - loop.time(), 0.0))

    async def _back_off(self, seconds: float) -> None:
        """Wait ``seconds`` however often commits wake the relay (each one would
        otherwise retry the failing broker at once); only a stop ends it sooner."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while not self._stopping and (left := until - loop.time()) > 0:
            self._wake.clear()
            await self._sleep(left)

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
        rows = [_from_row(row) for row in await self._claim(token)]
        published: list[int | str] = []
        error: BaseException | None = None
        try:
            published, error = await self._publish_batch(rows)
        finally:
            # Mark what went out even if another row failed; release the rest
            # so the next pass (or another relay) takes them without waiting.
            sent = set(published)
            failed = [row.key for row in rows if row.key not in sent]
            await self._settle(token, self.table.c.id, published, failed)
            await self._refresh_backlog()
        self._count(published)
        if error is not None:
            raise error
        return len(published)

    async def _publish_handed(self) -> None:
        """Publish up to one batch of the rows handed over.

        What went out is marked with what went out after it, within
        ``mark_interval``: one transaction for many batches when they come
        often. A crash before the mark leaves those rows leased, so they are
        claimed and published again once the lease ends: a duplicate, as with
        a crash between publish and mark on the claiming path. What failed is
        released at once and claimed after the backoff.
        """
        rows = self._handed[: self.batch_size]
        del self._handed[: self.batch_size]
        published, error = await self._publish_batch(rows)
        if published and self._mark_by is None:
            self._mark_by = asyncio.get_running_loop().time() + self.mark_interval
        self._sent.extend(published)
        self._count(published)
        sent = set(published)
        failed = [row.key for row in rows if row.key not in sent]
        if failed:
            self._claim_due = True
        if failed or len(self._sent) >= self.batch_size:
            await self._mark_sent(failed)
        if error is not None:
            raise error

    async def _mark_sent(self, failed: Sequence[int | str] = ()) -> None:
        """Mark the handed-over rows that went out; release ``failed`` ones."""
        sent, self._sent, self._mark_by = self._sent, [], None
        await self._settle(self._token, self.table.c.message_id, sent, list(failed))
        await self._refresh_backlog()

    async def _refresh_backlog(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_backlog >= self.backlog_interval:
            self._last_backlog = loop.time()
            await self._update_backlog()

    def _count(self, published: Sequence[int | str]) -> None:
        if published:
            RELAY_PUBLISHED.labels(service=self.service).inc(len(published))
            logger.debug("outbox rows published", extra={"count": len(published)})

    async def _publish_batch(
        self, rows: Sequence[_Pending]
    ) -> tuple[list[int | str], BaseException | None]:
        """Publish ``rows`` as one pipeline: (keys the broker acknowledged, first error).

        The tasks start in order and each sends before it first waits, so
        the publishes leave in order; their acknowledgements are awaited
        together.
        """
        outcomes = await asyncio.gather(
            *(self._publish(row) for row in rows), return_exceptions=True
        )
        published = [
            row.key for row, outcome in zip(rows, outcomes, strict=True) if outcome is None
        ]
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        # A cancellation (stop) wins over an ordinary failure.
        cancelled = [e for e in errors if isinstance(e, asyncio.CancelledError)]
        return published, (cancelled or errors or [None])[0]

    async def _publish(self, row: _Pending) -> None:
        # The producer span continues the trace of the request that wrote the
        # row (its traceparent rides in the row), and replaces it in the
        # headers so the consumer's span is its child.
        envelope = row.envelope
        attributes: dict[str, str] = {
            "messaging.system": "emporium",
            "messaging.destination.name": envelope.subject,
            "messaging.message.id": envelope.message_id,
            "message.type": row.type,
        }
        if row.order_id is not None:
            attributes["order_id"] = row.order_id
        with span(
            f"publish {row.type}",
            SpanKind.PRODUCER,
            parent=envelope.headers.get(TRACEPARENT_HEADER),
            remote_parent=True,
            attributes=attributes,
        ) as producer:
            if producer is not None:
                headers = {**envelope.headers, TRACEPARENT_HEADER: traceparent_of(producer)}
                envelope = replace(envelope, headers=headers)
            await self.publish(envelope)
        MESSAGES_PUBLISHED.labels(service=self.service, type=row.type).inc()

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

    async def _settle(
        self, token: str, key: sa.Column[Any], published: list[Any], failed: list[Any]
    ) -> None:
        """One transaction: mark ``published`` rows, release ``failed`` ones
        (each named by ``key``: id or message id, both unique)."""
        if not published and not failed:
            return
        t = self.table
        mine = t.c.claimed_by == token
        async with self.database.unit_of_work() as uow:
            if published:
                await uow.session.execute(
                    sa.update(t)
                    .where(key.in_(published), mine)
                    .values(published_at=utcnow(), claimed_by=None, claimed_until=None)
                )
            if failed:
                await uow.session.execute(
                    sa.update(t)
                    .where(key.in_(failed), mine)
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
