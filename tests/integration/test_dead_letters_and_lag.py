"""Operating messaging: replaying a dead letter, and seeing a stopped consumer's lag grow.

Every test runs on the embedded NATS and on the machine's RabbitMQ (``broker_url``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from emporium.chassis.db import UnitOfWork
from emporium.chassis.messaging import Messaging, encode
from emporium.chassis.messaging._transport import DeadLetterRecord
from emporium.contracts.catalog import ProductCreated
from tests._poll import eventually_async
from tests.integration._messaging_support import TEST_BACKOFF, Store, product, unique


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    made = await Store.sqlite(tmp_path)
    yield made
    await made.database.dispose()


def _messaging(store: Store, url: str, ns: str, broken: list[bool]) -> Messaging:
    async def on_product_created(message: ProductCreated, uow: UnitOfWork) -> None:
        if broken[0]:
            raise RuntimeError("the warehouse table is locked")
        await uow.session.execute(
            sa.insert(store.effects).values(message_id=str(message.id), sku=message.sku)
        )

    return Messaging(
        url,
        service="inventory",
        database=store.database,
        handlers={ProductCreated: on_product_created},
        namespace=ns,
        max_deliveries=2,
        retry_backoff=TEST_BACKOFF,
        poll_interval=0.1,
        outbox_table=store.outbox,
        inbox_table=store.inbox,
        lag_interval=0.1,
    )


async def test_a_replayed_dead_letter_keeps_its_message_id_and_has_exactly_one_effect(
    broker_url: str, store: Store
) -> None:
    ns, broken = unique(), [True]
    messaging = _messaging(store, broker_url, ns, broken)
    await messaging.start()
    try:
        message = product("dead-then-fine")
        envelope = encode(message, namespace=ns)
        await messaging.transport.publish(envelope)

        async def dead() -> list[DeadLetterRecord]:
            return await messaging.transport.list_dead_letters("inventory")

        (letter,) = await eventually_async(dead, timeout=15, message="no dead letter")
        assert letter.message_id == str(message.id)
        assert letter.deliveries == 2
        assert "warehouse table is locked" in letter.reason
        assert await messaging.transport.list_dead_letters("shipping") == []

        broken[0] = False  # the operator fixed the cause
        assert await messaging.transport.replay("inventory", letter.id)

        async def applied() -> bool:
            return await store.effect_skus() == ["dead-then-fine"]

        await eventually_async(applied, timeout=15, message="the replay had no effect")
        # The dead letter is gone, and the same message again changes nothing.
        assert await messaging.transport.list_dead_letters("inventory") == []
        assert not await messaging.transport.replay("inventory", letter.id)
        # A fresh broker dedup id, so NATS delivers it: only the inbox stands in the way.
        duplicates = _duplicates()
        await messaging.transport.publish(replace(envelope, dedup_id="a-second-copy"))

        async def consumed_duplicate() -> bool:
            return _duplicates() > duplicates

        await eventually_async(consumed_duplicate, timeout=10, message="the duplicate was not seen")
        assert await store.effect_skus() == ["dead-then-fine"]
    finally:
        await messaging.stop()


def _duplicates() -> float:
    value = REGISTRY.get_sample_value(
        "emporium_messages_duplicate_total", {"consumer": "inventory.ProductCreated"}
    )
    return value or 0.0


async def test_a_dead_letter_stays_listed_until_replayed_and_unknown_ids_replay_nothing(
    broker_url: str, store: Store
) -> None:
    """Listing must not consume: on RabbitMQ it takes letters off the queue and puts them back."""
    ns = unique()
    messaging = _messaging(store, broker_url, ns, [True])
    await messaging.start()
    try:
        for sku in ("first", "second"):
            await messaging.transport.publish(encode(product(sku), namespace=ns))

        async def dead() -> list[DeadLetterRecord]:
            return await messaging.transport.list_dead_letters("inventory")

        letters = await eventually_async(
            dead, lambda found: len(found) == 2, timeout=15, message="not two dead letters"
        )
        for _ in range(3):
            assert await dead() == letters
        for unknown in ("no-such-letter", "0", "-1", "1_0", "99999999999999999999999", "7.5"):
            assert not await messaging.transport.replay("inventory", unknown), unknown
        assert not await messaging.transport.replay("shipping", letters[0].id)
        assert await dead() == letters
    finally:
        await messaging.stop()


def _lag() -> float | None:
    return REGISTRY.get_sample_value(
        "emporium_consumer_lag", {"consumer": "inventory.ProductCreated"}
    )


async def test_a_consumer_stopped_on_purpose_shows_its_lag_growing(
    broker_url: str, store: Store
) -> None:
    ns = unique()
    messaging = _messaging(store, broker_url, ns, [False])
    await messaging.start()
    try:
        await messaging.transport.stop_consumers()
        for n in range(3):
            await messaging.transport.publish(encode(product(f"waiting-{n}"), namespace=ns))

        async def lag() -> float | None:
            return _lag()

        await eventually_async(lag, lambda v: v == 3, timeout=10, message="lag is not 3")
        for n in range(2):
            await messaging.transport.publish(encode(product(f"more-{n}"), namespace=ns))
        await eventually_async(lag, lambda v: v == 5, timeout=10, message="lag did not grow")
        assert await store.effect_skus() == []
    finally:
        await messaging.stop()
