"""The outbox relay: publishes committed outbox rows, in order, at least once.

One relay runs in each process that has an outbox. Rows are *claimed* with a
short lease in a short transaction, published with the message id as the
broker's dedup id, then marked published. A crash between publish and mark
leaves the row to be published again once the lease expires: at most a
duplicate, which NATS deduplicates and every consumer's inbox absorbs.

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
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def notify(self) -> None:
        """Wake the relay now (called after a commit that added outbox rows)."""
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
        while not self._stopping:
            self._wake.clear()
            try:
                published = await self.run_once()
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
                continue
            if published < self.batch_size:
                await self._sleep(self.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def run_once(self) -> int:
        """Claim, publish and mark one batch; returns how many were published."""
        token = uuid4().hex
        rows = await self._claim(token)
        published: list[int] = []
        try:
            for row in rows:
                if self._stopping and published:
                    break
                await self._publish(row)
                published.append(row["id"])
        finally:
            # Mark what went out even if a later row failed; release the rest
            # so the next pass (or another relay) takes them without waiting.
            await self._mark_published(token, published)
            await self._release(token, [r["id"] for r in rows if r["id"] not in published])
            await self._update_backlog()
        if published:
            RELAY_PUBLISHED.labels(service=self.service).inc(len(published))
            logger.debug("outbox rows published", extra={"count": len(published)})
        return len(published)

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
            else:
                # SQLite: a single UPDATE takes the write lock before reading,
                # so two relays cannot both see a row as unclaimed.
                await session.execute(
                    sa.update(t).where(t.c.id.in_(oldest.scalar_subquery())).values(**claim)
                )
            query = sa.select(t).where(t.c.claimed_by == token).order_by(t.c.id)
            rows = [dict(row) for row in (await session.execute(query)).mappings()]
            await uow.commit()
        return rows

    async def _mark_published(self, token: str, ids: list[int]) -> None:
        if not ids:
            return
        t = self.table
        async with self.database.unit_of_work() as uow:
            await uow.session.execute(
                sa.update(t)
                .where(t.c.id.in_(ids), t.c.claimed_by == token)
                .values(published_at=utcnow(), claimed_by=None, claimed_until=None)
            )
            await uow.commit()

    async def _release(self, token: str, ids: list[int]) -> None:
        if not ids:
            return
        t = self.table
        async with self.database.unit_of_work() as uow:
            await uow.session.execute(
                sa.update(t)
                .where(t.c.id.in_(ids), t.c.claimed_by == token)
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
