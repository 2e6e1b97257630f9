"""The relay's batching and wake-ups, and the inbox's one-statement claim (decision 0024).

On a SQLite store of the test's own, with a fake publish in place of a broker:
what is under test is how many round trips and transactions the relay makes,
not the broker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import nats
import pytest
import sqlalchemy as sa

from emporium.chassis.messaging import Outbox, OutboxRelay
from emporium.chassis.messaging._nats import NatsTransport, stream_names
from emporium.chassis.messaging.envelope import MESSAGE_ID_HEADER, Envelope
from emporium.chassis.messaging.inbox import Inbox, InboxPruner
from emporium.launcher.nats import EmbeddedNats
from tests._sql import statements_sent
from tests.integration._messaging_support import Store, product, unique

T = TypeVar("T")


async def _add(store: Store, skus: list[str], namespace: str = "emporium") -> None:
    outbox = Outbox(namespace=namespace, table=store.outbox)
    async with store.database.unit_of_work() as uow:
        for sku in skus:
            await outbox.add(uow.session, product(sku))
        await uow.commit()


class HeldBroker:
    """A publish that holds every acknowledgement until ``release``."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.sent: list[str] = []
        self.fail = fail or set()
        self.release = asyncio.Event()

    async def publish(self, envelope: Envelope) -> None:
        self.sent.append(envelope.message_id)
        await self.release.wait()
        if envelope.message_id in self.fail:
            raise ConnectionError("broker refused the message")


async def _message_ids(store: Store) -> list[str]:
    async with store.database.session() as session:
        query = sa.select(store.outbox.c.message_id).order_by(store.outbox.c.id)
        return list((await session.execute(query)).scalars())


async def test_a_batch_is_sent_whole_in_id_order_before_any_acknowledgement(
    tmp_path: Path,
) -> None:
    store = await Store.sqlite(tmp_path)
    await _add(store, [f"sku-{i}" for i in range(5)])
    broker = HeldBroker()
    relay = OutboxRelay(store.database, broker.publish, table=store.outbox)

    running = asyncio.create_task(relay.run_once())
    # Sequential publishing would stop at the first held acknowledgement.
    for _ in range(200):
        if len(broker.sent) == 5:
            break
        await asyncio.sleep(0.01)
    assert broker.sent == await _message_ids(store)
    broker.release.set()

    assert await running == 5
    assert await store.unpublished() == 0
    await store.database.dispose()


async def test_a_failed_publish_in_a_batch_marks_the_rest_and_releases_it(
    tmp_path: Path,
) -> None:
    store = await Store.sqlite(tmp_path)
    await _add(store, ["a", "b", "c"])
    ids = await _message_ids(store)
    broker = HeldBroker(fail={ids[1]})
    broker.release.set()
    relay = OutboxRelay(store.database, broker.publish, table=store.outbox)

    with pytest.raises(ConnectionError):
        await relay.run_once()

    async with store.database.session() as session:
        rows = (
            await session.execute(
                sa.select(
                    store.outbox.c.message_id,
                    store.outbox.c.published_at.is_not(None),
                    store.outbox.c.claimed_by,
                )
            )
        ).all()
    state = {message_id: (published, claimed) for message_id, published, claimed in rows}
    assert state[ids[0]] == (True, None)
    assert state[ids[2]] == (True, None)
    # Released at once, not left leased: the next pass takes it.
    assert state[ids[1]] == (False, None)
    broker.fail.clear()
    assert await relay.run_once() == 1
    await store.database.dispose()


class CountingRelay(OutboxRelay):
    claims = 0
    backlog_reads = 0

    async def run_once(self) -> int:
        self.claims += 1
        return await super().run_once()

    async def _update_backlog(self) -> None:
        self.backlog_reads += 1
        await super()._update_backlog()


async def test_an_idle_relay_polls_without_claiming_and_a_commit_wakes_it(
    tmp_path: Path,
) -> None:
    store = await Store.sqlite(tmp_path)
    published: list[str] = []

    async def publish(envelope: Envelope) -> None:
        published.append(envelope.message_id)

    relay = CountingRelay(store.database, publish, table=store.outbox, poll_interval=0.01)
    outbox = Outbox(table=store.outbox)
    outbox.subscribe(relay.committed)
    await relay.start()
    try:
        await asyncio.sleep(0.3)  # about 30 polls
        # Only the first pass claims; the polls after it only read.
        assert relay.claims == 1
        async with store.database.unit_of_work() as uow:
            await outbox.add(uow.session, product("woken"))
            await uow.commit()
        for _ in range(200):
            if published:
                break
            await asyncio.sleep(0.01)
        assert len(published) == 1
    finally:
        await relay.stop()
    await store.database.dispose()


async def test_an_idle_poll_still_finds_rows_another_process_wrote(tmp_path: Path) -> None:
    store = await Store.sqlite(tmp_path)
    published: list[str] = []

    async def publish(envelope: Envelope) -> None:
        published.append(envelope.message_id)

    relay = OutboxRelay(store.database, publish, table=store.outbox, poll_interval=0.02)
    await relay.start()
    try:
        await asyncio.sleep(0.05)
        await _add(store, ["from-elsewhere"])  # no notify: another process's commit
        for _ in range(200):
            if published:
                break
            await asyncio.sleep(0.01)
        assert published == await _message_ids(store)
    finally:
        await relay.stop()
    await store.database.dispose()


async def test_backlog_gauges_are_read_at_most_once_per_interval(tmp_path: Path) -> None:
    store = await Store.sqlite(tmp_path)

    async def publish(envelope: Envelope) -> None:
        pass

    relay = CountingRelay(store.database, publish, table=store.outbox, backlog_interval=60)
    for i in range(5):
        await _add(store, [f"sku-{i}"])
        assert await relay.run_once() == 1
    assert relay.backlog_reads == 1
    await store.database.dispose()


async def test_inbox_claim_is_true_once_per_message(tmp_path: Path) -> None:
    store = await Store.sqlite(tmp_path)
    inbox = Inbox(store.inbox)
    message_id = uuid.uuid4()
    async with store.database.unit_of_work() as uow:
        assert await inbox.claim(uow.session, "inventory.ProductCreated", message_id)
        # Another consumer's row for the same message is its own.
        assert await inbox.claim(uow.session, "search.ProductCreated", message_id)
        await uow.commit()
    async with store.database.unit_of_work() as uow:
        assert not await inbox.claim(uow.session, "inventory.ProductCreated", message_id)
        assert await inbox.contains(uow.session, "inventory.ProductCreated", message_id)
    await store.database.dispose()


async def test_a_pipelined_batch_reaches_the_nats_stream_in_id_order(
    tmp_path: Path, embedded_nats: EmbeddedNats
) -> None:
    ns = unique()
    store = await Store.sqlite(tmp_path)
    await _add(store, [f"sku-{i}" for i in range(30)], namespace=ns)
    transport = NatsTransport(embedded_nats.url, namespace=ns)
    await transport.connect()
    try:
        relay = OutboxRelay(store.database, transport.publish, table=store.outbox)
        assert await relay.run_once() == 30
        client = await nats.connect(embedded_nats.url)
        try:
            stream = client.jetstream()
            main, _ = stream_names(ns)
            ids = []
            for sequence in range(1, 31):
                message = await stream.get_msg(main, sequence)
                ids.append((message.headers or {})[MESSAGE_ID_HEADER])
        finally:
            await client.close()
        assert ids == await _message_ids(store)
    finally:
        await transport.close()
        await store.database.dispose()


async def _plans(
    store: Store, table: str, work: Callable[[], Awaitable[T]]
) -> tuple[T, list[tuple[str, list[str]]]]:
    """What ``work`` returns, and SQLite's query plan of each statement it ran on ``table``."""
    with statements_sent(store.database.engine) as statements:
        result = await work()
    plans = []
    async with store.database.engine.connect() as connection:
        for statement, parameters in statements:
            if table not in statement:
                continue
            plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.append((statement, [str(row[-1]) for row in plan]))
    return result, plans


def _scans(plans: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    return [(statement, details) for statement, details in plans
            if any(d.startswith("SCAN") for d in details)]  # fmt: skip


async def test_a_claim_reads_no_row_it_does_not_claim(tmp_path: Path) -> None:
    """The outbox keeps a day of published rows; a claim must not scan them.

    Every statement the relay runs for one batch is explained by SQLite: each
    reaches its rows through an index or the primary key, never a table scan.
    """
    store = await Store.sqlite(tmp_path)
    await _add(store, [f"old-{i}" for i in range(50)])
    relay = OutboxRelay(store.database, HeldBroker().publish, table=store.outbox)
    async with store.database.unit_of_work() as uow:
        await uow.session.execute(sa.update(store.outbox).values(published_at=sa.func.now()))
        await uow.commit()
    await _add(store, ["new-1", "new-2"])
    claimed, plans = await _plans(store, store.outbox.name, lambda: relay._claim("token-1"))
    assert [row["message_id"] for row in claimed] == (await _message_ids(store))[-2:]
    assert plans
    assert _scans(plans) == []
    await store.database.dispose()


async def test_the_pruner_deletes_only_what_is_past_retention_by_the_index(
    tmp_path: Path,
) -> None:
    """The inbox keeps a week of message ids; the hourly prune reads only the old ones."""
    store = await Store.sqlite(tmp_path)
    now = datetime(2026, 11, 29, 12, 0)
    ages = {"fresh": timedelta(hours=1), "old": timedelta(days=8), "older": timedelta(days=30)}
    async with store.database.unit_of_work() as uow:
        await uow.session.execute(
            sa.insert(store.inbox),
            [{"consumer": "c", "message_id": key, "processed_at": now - age}
             for key, age in ages.items()],
        )  # fmt: skip
        await uow.commit()
    pruner = InboxPruner(
        store.database, Inbox(store.inbox), retention=timedelta(days=7), clock=lambda: now
    )
    pruned, plans = await _plans(store, store.inbox.name, pruner.run_once)
    assert pruned == 2
    async with store.database.session() as session:
        kept = (await session.execute(sa.select(store.inbox.c.message_id))).scalars().all()
    assert kept == ["fresh"]
    assert plans
    assert _scans(plans) == []
    await store.database.dispose()
