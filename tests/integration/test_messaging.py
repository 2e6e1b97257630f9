"""The messaging chassis against real brokers: NATS JetStream and RabbitMQ.

Every test gets its own namespace (streams, exchanges, queues) and its own
SQLite database, so tests need no teardown and never see each other's messages.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import nats
import pytest
import sqlalchemy as sa
from nats.aio.msg import Msg

from emporium.chassis.db import Database
from emporium.chassis.messaging import Messaging, Outbox, OutboxRelay
from emporium.chassis.messaging._transport import DEAD_LETTER_REASON
from emporium.chassis.messaging.envelope import Envelope, encode
from emporium.chassis.messaging.inbox import Inbox
from emporium.contracts import Message
from emporium.contracts.catalog import ProductCreated
from emporium.launcher.nats import EmbeddedNats
from tests._poll import eventually_async
from tests._sql import statements_sent
from tests.integration._messaging_support import Store, dead_letters, product, unique

StoreFactory = Callable[[str], Awaitable[Store]]


@pytest.fixture
async def make_store(tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """SQLite stores in ``tmp_path``, disposed when the test ends."""
    stores: list[Store] = []

    async def make(name: str = "service") -> Store:
        store = await Store.sqlite(tmp_path, name)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.database.dispose()


@pytest.fixture
async def store_on(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store on the engine the test names indirectly ("sqlite", or the fixture
    giving a server's URL: "postgres_url", "mariadb_url"); its tables dropped after."""
    if request.param == "sqlite":
        store = await Store.sqlite(tmp_path)
    else:
        store = Store(Database(request.getfixturevalue(request.param)))
        await store.database.create_all(store.metadata)
    try:
        yield store
    finally:
        async with store.database.engine.begin() as conn:
            await conn.run_sync(store.metadata.drop_all)
        await store.database.dispose()


class RelayCrashedError(Exception):
    """Stands in for the process dying between publishing and marking."""


class CrashingRelay(OutboxRelay):
    async def _settle(
        self, token: str, key: sa.Column[Any], published: list[Any], failed: list[Any]
    ) -> None:
        raise RelayCrashedError


async def test_relay_crash_between_publish_and_mark_gives_exactly_one_effect(
    broker_url: str, make_store: StoreFactory
) -> None:
    ns = unique()
    publisher = await make_store("publisher")
    consumer_store = await make_store("consumer")
    consumer = consumer_store.messaging(broker_url, ns, "inventory")
    source = publisher.messaging(broker_url, ns, "catalog", consume=False, relay=False)
    await consumer.start()
    await source.start()
    try:
        async with publisher.database.unit_of_work() as uow:
            await source.outbox.add(uow.session, product("sku-1"))
            await uow.commit()
        crashing = CrashingRelay(
            publisher.database, source.transport.publish, table=publisher.outbox
        )
        with pytest.raises(RelayCrashedError):
            await crashing.run_once()
        assert await publisher.unpublished() == 1
        # The crashed relay's lease is still held; a new process's relay
        # takes the row once it expires (expire it now rather than wait).
        async with publisher.database.unit_of_work() as uow:
            await uow.session.execute(sa.update(publisher.outbox).values(claimed_until=None))
            await uow.commit()
        assert (
            await OutboxRelay(
                publisher.database, source.transport.publish, table=publisher.outbox
            ).run_once()
            == 1
        )
        assert await publisher.unpublished() == 0

        async def one_effect() -> bool:
            return await consumer_store.effect_skus() == ["sku-1"]

        await eventually_async(one_effect, timeout=15, message="waiting for the effect")
        # Both copies have been delivered by now on RabbitMQ (one queue, in
        # order); a second effect would have appeared.
        sentinel = product("sku-2")
        await source.transport.publish(encode(sentinel, namespace=ns))

        async def sentinel_seen() -> bool:
            return await consumer_store.effect_skus() == ["sku-1", "sku-2"]

        await eventually_async(sentinel_seen, timeout=15, message="waiting for the sentinel")
    finally:
        await source.stop()
        await consumer.stop()


async def test_same_message_delivered_twice_to_two_replicas_has_one_effect(
    broker_url: str, make_store: StoreFactory
) -> None:
    ns = unique()
    store = await make_store("service")
    calls: list[str] = []
    replicas = [store.messaging(broker_url, ns, "inventory", calls=calls) for _ in range(2)]
    for replica in replicas:
        await replica.start()
    try:
        envelope = encode(product("twice"), namespace=ns)
        # Distinct broker dedup ids so that NATS stores two copies too: a true
        # double delivery that only the inbox can absorb.
        for copy in range(3):
            await replicas[0].transport.publish(
                Envelope(
                    envelope.subject,
                    envelope.payload,
                    envelope.message_id,
                    envelope.headers,
                    dedup_id=f"{envelope.message_id}-{copy}",
                )
            )
        sentinel = encode(product("after"), namespace=ns)
        await replicas[0].transport.publish(sentinel)

        async def all_seen() -> bool:
            return sorted(await store.effect_skus()) == ["after", "twice"]

        await eventually_async(all_seen, timeout=15, message="waiting for both effects")
        assert sorted(await store.effect_skus()) == ["after", "twice"]
    finally:
        for replica in replicas:
            await replica.stop()


async def test_poison_message_is_dead_lettered_and_does_not_block_later_messages(
    broker_url: str, make_store: StoreFactory
) -> None:
    ns = unique()
    store = await make_store("service")
    calls: list[str] = []
    messaging = store.messaging(broker_url, ns, "inventory", calls=calls, max_deliveries=3)
    await messaging.start()
    try:
        await messaging.transport.publish(encode(product("poison"), namespace=ns))
        for n in range(3):
            await messaging.transport.publish(encode(product(f"ok-{n}"), namespace=ns))
        await messaging.transport.publish(
            Envelope(f"{ns}.catalog.ProductCreated", b"{not json", "garbage")
        )

        async def later_processed() -> bool:
            return sorted(await store.effect_skus()) == ["ok-0", "ok-1", "ok-2"]

        await eventually_async(
            later_processed, timeout=15, message="waiting for the messages behind the poison"
        )

        async def both_dead() -> bool:
            return len(await dead_letters(broker_url, ns)) == 2

        await eventually_async(both_dead, timeout=15, message="waiting for two dead letters")
        letters = {body: headers for body, headers in await dead_letters(broker_url, ns)}
        poison = next(h for b, h in letters.items() if b"poison" in b)
        assert "RuntimeError: cannot handle poison" in poison[DEAD_LETTER_REASON]
        assert poison["x-message-type"] == "ProductCreated"
        assert "cannot parse" in letters[b"{not json"][DEAD_LETTER_REASON]
        assert calls.count("poison") == 3
    finally:
        await messaging.stop()


async def test_message_published_while_consumer_is_down_is_processed_when_it_starts(
    broker_url: str, make_store: StoreFactory
) -> None:
    ns = unique()
    publisher = await make_store("publisher")
    consumer_store = await make_store("consumer")
    consumer = consumer_store.messaging(broker_url, ns, "inventory")
    await consumer.start()
    await consumer.stop()
    source = publisher.messaging(broker_url, ns, "catalog", consume=False)
    await source.start()
    try:
        async with publisher.database.unit_of_work() as uow:
            await source.outbox.add(uow.session, product("while-down"))
            await uow.commit()

        async def published() -> bool:
            return await publisher.unpublished() == 0

        await eventually_async(published, timeout=15, message="waiting for the relay")
        restarted = consumer_store.messaging(broker_url, ns, "inventory")
        await restarted.start()
        try:

            async def processed() -> bool:
                return await consumer_store.effect_skus() == ["while-down"]

            await eventually_async(processed, timeout=15, message="waiting for the effect")
        finally:
            await restarted.stop()
    finally:
        await source.stop()


async def test_publisher_only_process_publishes_before_any_consumer_exists(
    broker_url: str, make_store: StoreFactory
) -> None:
    ns = unique()
    publisher = await make_store("publisher")
    source = publisher.messaging(broker_url, ns, "catalog", consume=False)
    await source.start()
    try:
        assert await source.ready()
        async with publisher.database.unit_of_work() as uow:
            await source.outbox.add(uow.session, product("early"))
            await uow.commit()

        async def published() -> bool:
            return await publisher.unpublished() == 0

        await eventually_async(published, timeout=15, message="waiting for the relay")
    finally:
        await source.stop()
    consumer_store = await make_store("consumer")
    consumer = consumer_store.messaging(broker_url, ns, "inventory")
    await consumer.start()
    try:

        async def processed() -> bool:
            return await consumer_store.effect_skus() == ["early"]

        await eventually_async(processed, timeout=15, message="waiting for the late consumer")
    finally:
        await consumer.stop()


async def test_every_consumer_gets_what_was_published_before_any_of_them_started(
    broker_url: str, make_store: StoreFactory
) -> None:
    """The first consumer to start must not take the early messages from the later ones.

    On RabbitMQ this needs every consumer's queue bound before the first publish:
    replaying parked messages when one consumer starts reaches only the queues bound
    by then (recommendations started before inventory and inventory never got its stock).
    """
    ns = unique()
    publisher = await make_store("publisher")
    source = publisher.messaging(broker_url, ns, "catalog", consume=False)
    await source.start()
    try:
        async with publisher.database.unit_of_work() as uow:
            await source.outbox.add(uow.session, product("early"))
            await uow.commit()

        async def published() -> bool:
            return await publisher.unpublished() == 0

        await eventually_async(published, timeout=15, message="waiting for the relay")
    finally:
        await source.stop()
    for service in ("recommendations", "inventory"):
        consumer_store = await make_store(service)
        consumer = consumer_store.messaging(broker_url, ns, service)
        await consumer.start()
        try:

            async def processed(store: Store = consumer_store) -> bool:
                return await store.effect_skus() == ["early"]

            await eventually_async(processed, timeout=15, message=f"{service} never got it")
        finally:
            await consumer.stop()


@pytest.mark.parametrize("store_on", ["postgres_url", "mariadb_url"], indirect=True)
async def test_relays_on_a_locking_database_claim_disjoint_rows(store_on: Store) -> None:
    store = store_on
    published: list[str] = []

    async def publish(envelope: Envelope) -> None:
        published.append(envelope.message_id)

    outbox = Outbox(namespace=unique(), table=store.outbox)
    async with store.database.unit_of_work() as uow:
        for n in range(40):
            await outbox.add(uow.session, product(f"sku-{n}"))
        await uow.commit()
    relays = [
        OutboxRelay(store.database, publish, table=store.outbox, batch_size=5) for _ in range(4)
    ]
    while await store.unpublished():
        await asyncio.gather(*(relay.run_once() for relay in relays))
    assert len(published) == 40
    assert len(set(published)) == 40


@pytest.mark.parametrize("store_on", ["postgres_url", "mariadb_url"], indirect=True)
async def test_rows_handed_over_on_a_server_database_go_out_once_and_are_marked(
    store_on: Store,
) -> None:
    """Decision 0029 on PostgreSQL and MariaDB: rows written leased to the
    relay, published without a claim, marked by message id."""
    store = store_on
    published: list[str] = []

    async def publish(envelope: Envelope) -> None:
        published.append(envelope.message_id)

    relay = OutboxRelay(store.database, publish, table=store.outbox, mark_interval=0.01)
    outbox = Outbox(namespace=unique(), table=store.outbox)
    await relay.start()
    try:
        outbox.hand_over_to(relay)
        for n in range(3):
            async with store.database.unit_of_work() as uow:
                for k in range(4):
                    await outbox.add(uow.session, product(f"sku-{n}-{k}"))
                await uow.commit()

        async def all_marked() -> bool:
            return await store.unpublished() == 0

        await eventually_async(all_marked, timeout=10, message="rows left unmarked")
    finally:
        await relay.stop()
    assert len(published) == len(set(published)) == 12
    async with store.database.session() as session:
        t = store.outbox
        rows = (await session.execute(sa.select(t.c.claimed_by, t.c.attempts))).all()
    assert set(rows) == {(None, 1)}


@pytest.mark.parametrize("store_on", ["sqlite", "postgres_url", "mariadb_url"], indirect=True)
async def test_the_inbox_records_a_message_once_per_consumer(store_on: Store) -> None:
    """One statement on SQLite and PostgreSQL, a read then the insert on MariaDB."""
    inbox = Inbox(store_on.inbox)
    message_id = uuid.uuid4()
    async with store_on.database.unit_of_work() as uow:
        with statements_sent(store_on.database.engine) as sent:
            assert await inbox.claim(uow.session, "inventory.ProductCreated", message_id)
        assert len(sent) == (2 if store_on.database.dialect == "mysql" else 1)
        # Another consumer's row for the same message is its own.
        assert await inbox.claim(uow.session, "search.ProductCreated", message_id)
        await uow.commit()
    async with store_on.database.unit_of_work() as uow:
        assert not await inbox.claim(uow.session, "inventory.ProductCreated", message_id)
        assert await inbox.contains(uow.session, "inventory.ProductCreated", message_id)


async def test_a_listener_never_answers_what_it_hears(
    embedded_nats: EmbeddedNats, make_store: StoreFactory
) -> None:
    """On NATS a JetStream publish is a request whose one answer must be the
    stream's acknowledgement. A listener that answered too (FastStream answers
    with the handler's None unless told not to) raced it, and a publisher that
    got the listener's empty answer first failed to decode it."""
    ns = unique()
    store = await make_store("listening")
    heard: list[str] = []

    async def hear(message: Message) -> None:
        heard.append(cast(ProductCreated, message).sku)

    listening = Messaging(
        embedded_nats.url,
        service="catalog",
        database=store.database,
        namespace=ns,
        relay=False,
        outbox_table=store.outbox,
        inbox_table=store.inbox,
        listeners={ProductCreated: hear},
    )
    await listening.start()
    client = await nats.connect(embedded_nats.url)
    try:
        answers: list[bytes] = []

        async def answered(msg: Msg) -> None:
            answers.append(msg.data)

        inbox = client.new_inbox()
        await client.subscribe(inbox, cb=answered)
        envelope = encode(product("heard"), namespace=ns)
        await client.publish(envelope.subject, envelope.payload, reply=inbox)

        async def settled() -> tuple[list[str], list[bytes]]:
            return heard, answers

        await eventually_async(
            settled, lambda s: s[0] and s[1], timeout=15, message="heard and acknowledged"
        )
        await asyncio.sleep(0.5)  # time for a second answer, if anything sends one
        assert heard == ["heard"]
        assert len(answers) == 1, answers
        assert json.loads(answers[0])["stream"]  # the stream's acknowledgement
    finally:
        await client.close()
        await listening.stop()


async def test_stopping_while_the_lag_probe_asks_the_broker_stops_cleanly(
    broker_url: str, make_store: StoreFactory
) -> None:
    """Stop used to cancel the lag probe mid-request. On RabbitMQ a cancelled
    queue declare closes the channel the consumers share, and their stop then
    failed with "Channel closed by RPC timeout" (seen in the suite). With a probe
    always in flight, every stop must still finish cleanly."""
    store = await make_store("probed")
    for _ in range(8):
        messaging = Messaging(
            broker_url,
            service="inventory",
            database=store.database,
            handlers={ProductCreated: store.handler()},
            namespace=unique(),
            lag_interval=0.0001,
            outbox_table=store.outbox,
            inbox_table=store.inbox,
        )
        await messaging.start()
        await asyncio.sleep(0.05)
        await messaging.stop()
