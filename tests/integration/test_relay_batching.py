"""The relay's batching and wake-ups (decision 0024), and rows handed over by the
outbox, leased from the moment they are written (decision 0029). The inbox's
claim is tested in ``test_messaging.py``, on every engine.

On a SQLite store of the test's own, with a fake publish in place of a broker:
what is under test is how many round trips and transactions the relay makes,
not the broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import nats
import pytest
import sqlalchemy as sa

from emporium.chassis.messaging import Backoff, Outbox, OutboxRelay
from emporium.chassis.messaging._nats import NatsTransport, stream_names
from emporium.chassis.messaging.envelope import MESSAGE_ID_HEADER, Envelope
from emporium.chassis.messaging.inbox import Inbox, InboxPruner
from emporium.chassis.messaging.outbox import Written
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
    await relay.start()
    outbox.hand_over_to(relay)
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


# ----------------------------------------------------------- hand-over (decision 0029)


class RecordingBroker:
    """A publish that acknowledges at once and records each message id."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def publish(self, envelope: Envelope) -> None:
        self.sent.append(envelope.message_id)


async def _outbox_state(store: Store) -> dict[str, tuple[bool, str | None]]:
    """message id -> (published, claimed_by)."""
    t = store.outbox
    async with store.database.session() as session:
        query = sa.select(t.c.message_id, t.c.published_at.is_not(None), t.c.claimed_by)
        rows = (await session.execute(query)).all()
    return {message_id: (published, claimed) for message_id, published, claimed in rows}


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


class SettleCountingRelay(CountingRelay):
    settles = 0
    claims_done = 0

    async def run_once(self) -> int:
        published = await super().run_once()
        self.claims_done += 1
        return published

    async def _settle(
        self, token: str, key: sa.Column[Any], published: list[Any], failed: list[Any]
    ) -> None:
        await super()._settle(token, key, published, failed)
        if published or failed:
            self.settles += 1


async def _handing_relay(
    store: Store, publish: Callable[[Envelope], Awaitable[None]], **options: Any
) -> tuple[SettleCountingRelay, Outbox]:
    relay = SettleCountingRelay(store.database, publish, table=store.outbox, **options)
    outbox = Outbox(table=store.outbox)
    await relay.start()
    outbox.hand_over_to(relay)
    await _until(lambda: _true(relay.claims_done == 1))  # the first pass at start-up
    return relay, outbox


async def _true(value: bool) -> bool:
    return value


async def _write(store: Store, outbox: Outbox, *skus: str) -> None:
    async with store.database.unit_of_work() as uow:
        for sku in skus:
            await outbox.add(uow.session, product(sku))
        await uow.commit()


async def test_a_row_is_written_leased_to_the_relay_and_published_without_a_claim(
    tmp_path: Path,
) -> None:
    store = await Store.sqlite(tmp_path)
    broker = HeldBroker()
    relay, outbox = await _handing_relay(
        store, broker.publish, mark_interval=0.01, poll_interval=60, backlog_interval=60
    )
    try:
        with statements_sent(store.database.engine) as statements:
            await _write(store, outbox, "a", "b")
            await _until(lambda: _true(len(broker.sent) == 2))
            state = await _outbox_state(store)
            # Leased from the transaction that wrote them: no other relay takes them.
            assert set(state.values()) == {(False, relay._token)}
            assert broker.sent == await _message_ids(store)
            broker.release.set()
            await _until(lambda: _true(relay.settles == 1))
        assert set((await _outbox_state(store)).values()) == {(True, None)}
        # The write, then the mark; no claim, and no read of the rows but
        # this test's own two.
        verbs = [s.split()[0] for s, _ in statements if store.outbox.name in s]
        assert [v for v in verbs if v != "SELECT"] == ["INSERT", "INSERT", "UPDATE"]
        assert verbs.count("SELECT") == 2
        assert relay.claims == 1
    finally:
        await relay.stop()
    await store.database.dispose()


async def test_rows_that_went_out_are_marked_together(tmp_path: Path) -> None:
    store = await Store.sqlite(tmp_path)
    broker = RecordingBroker()
    published = broker.sent

    relay, outbox = await _handing_relay(store, broker.publish, mark_interval=1.0)
    try:
        for i in range(1, 5):
            await _write(store, outbox, f"sku-{i}")

            async def sent(n: int = i) -> bool:
                return len(published) == n

            await _until(sent)
        # Each went out when its transaction committed; none is marked yet.
        assert relay.settles == 0
        assert await store.unpublished() == 4
        await _until(lambda: _true(relay.settles == 1))
        assert await store.unpublished() == 0
        assert published == await _message_ids(store)
    finally:
        await relay.stop()
    await store.database.dispose()


async def test_a_batch_worth_of_sent_rows_is_marked_at_once(tmp_path: Path) -> None:
    store = await Store.sqlite(tmp_path)

    broker = RecordingBroker()
    relay, outbox = await _handing_relay(store, broker.publish, mark_interval=60, batch_size=3)
    try:
        await _write(store, outbox, "a", "b", "c", "d")
        await _until(lambda: _true(relay.settles == 1))
        assert await store.unpublished() == 1  # the fourth waits for the interval
    finally:
        await relay.stop()
    assert await store.unpublished() == 0  # stopping marks it
    await store.database.dispose()


async def test_stopping_releases_rows_handed_over_and_not_yet_sent(tmp_path: Path) -> None:
    store = await Store.sqlite(tmp_path)
    broker = HeldBroker()
    relay, outbox = await _handing_relay(store, broker.publish, batch_size=1)
    await _write(store, outbox, "in-hand")
    await _until(lambda: _true(len(broker.sent) == 1))
    await _write(store, outbox, "queued")
    stopping = asyncio.create_task(relay.stop())
    await asyncio.sleep(0.05)
    broker.release.set()
    await stopping
    ids = await _message_ids(store)
    # The batch in hand went out and is marked; the queued row is free at
    # once for the next start or another replica, not leased for 5 s.
    assert await _outbox_state(store) == {ids[0]: (True, None), ids[1]: (False, None)}
    assert broker.sent == ids[:1]
    await store.database.dispose()


async def test_a_failing_relay_releases_its_rows_and_takes_none_on_write(
    tmp_path: Path,
) -> None:
    store = await Store.sqlite(tmp_path)
    broker_down = True
    published: list[str] = []

    async def publish(envelope: Envelope) -> None:
        if broker_down:
            raise ConnectionError("broker down")
        published.append(envelope.message_id)

    relay, outbox = await _handing_relay(
        store, publish, backoff=Backoff(0.2, 0.2), poll_interval=60
    )
    try:
        await _write(store, outbox, "first")
        await _until(lambda: _true(relay._failing))
        await _write(store, outbox, "during")
        # Neither is leased: the first was released, the second written free.
        assert set((await _outbox_state(store)).values()) == {(False, None)}
        broker_down = False
        await _until(lambda: _true(len(published) == 2))
        assert sorted(published) == sorted(await _message_ids(store))
        await _until(lambda: _true(not relay._failing))
        await _write(store, outbox, "after")
        await _until(lambda: _true(len(published) == 3))
    finally:
        await relay.stop()
    assert await store.unpublished() == 0
    await store.database.dispose()


async def test_commits_do_not_cut_a_failing_relays_backoff_short(tmp_path: Path) -> None:
    # While the broker is down, every commit still tells the relay a row is
    # waiting; it must wait out its backoff all the same, not retry per commit.
    store = await Store.sqlite(tmp_path)
    attempts = 0

    async def publish(envelope: Envelope) -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionError("broker down")

    relay, outbox = await _handing_relay(
        store, publish, backoff=Backoff(0.3, 0.3), poll_interval=60
    )
    try:
        await _write(store, outbox, "first")
        await _until(lambda: _true(relay._failing))
        failed_at = attempts
        for i in range(10):  # 10 commits within about 0.1 s of a 0.3 s backoff
            await _write(store, outbox, f"during-{i}")
        assert attempts == failed_at
        await _until(lambda: _true(attempts > failed_at))  # the retry, after the backoff
    finally:
        await relay.stop()
    await store.database.dispose()


async def test_a_row_whose_relay_died_after_the_commit_is_published_once_its_lease_ends(
    tmp_path: Path,
) -> None:
    store = await Store.sqlite(tmp_path)

    class DiesAfterCommit(OutboxRelay):
        def written(self, rows: Sequence[Written]) -> None:
            pass  # the process died: the rows it was handed are gone with it

    async def nowhere(envelope: Envelope) -> None:
        raise AssertionError("the dead relay publishes nothing")

    dead = DiesAfterCommit(
        store.database, nowhere, table=store.outbox, lease=timedelta(milliseconds=300)
    )
    outbox = Outbox(table=store.outbox)
    await dead.start()
    outbox.hand_over_to(dead)
    await _write(store, outbox, "orphan")
    assert dead._task is not None
    dead._task.cancel()  # killed
    await asyncio.gather(dead._task, return_exceptions=True)
    [(published, claimed_by)] = (await _outbox_state(store)).values()
    assert (published, claimed_by) == (False, dead._token)

    broker = RecordingBroker()
    survivor_sent = broker.sent
    survivor = OutboxRelay(store.database, broker.publish, table=store.outbox, poll_interval=0.05)
    await survivor.start()
    try:
        await asyncio.sleep(0.15)
        assert survivor_sent == []  # still leased
        orphan = await _message_ids(store)
        await _until(lambda: _true(survivor_sent == orphan))
    finally:
        await survivor.stop()
    await store.database.dispose()


async def test_polls_keep_their_interval_while_hand_overs_keep_the_relay_busy(
    tmp_path: Path,
) -> None:
    store = await Store.sqlite(tmp_path)
    broker = RecordingBroker()
    published = broker.sent

    relay, outbox = await _handing_relay(store, broker.publish, poll_interval=0.1)
    try:
        await _add(store, ["from-elsewhere"])  # another process's row: no hand-over
        for i in range(60):  # a commit every 10 ms for 0.6 s
            await _write(store, outbox, f"busy-{i}")
            await asyncio.sleep(0.01)
        [elsewhere] = (await _message_ids(store))[:1]
        assert elsewhere in published
    finally:
        await relay.stop()
    await store.database.dispose()


async def test_marking_handed_over_rows_reads_them_by_an_index(tmp_path: Path) -> None:
    store = await Store.sqlite(tmp_path)
    relay = OutboxRelay(store.database, HeldBroker().publish, table=store.outbox)
    await _add(store, [f"old-{i}" for i in range(50)])
    ids = await _message_ids(store)
    relay._sent = list[int | str](ids[:10])
    _, plans = await _plans(store, store.outbox.name, lambda: relay._mark_sent(ids[10:12]))
    assert [s.split()[0] for s, _ in plans if not s.startswith("SELECT")] == ["UPDATE"] * 2
    assert _scans(plans) == []
    await store.database.dispose()
