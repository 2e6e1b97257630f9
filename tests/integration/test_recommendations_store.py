"""Both recommendations stores (SQL and Redis) keep the same rules, on real servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import UUID

import pytest

from emporium.chassis import Database
from emporium.contracts import Message, Money
from emporium.contracts.catalog import ProductCreated, ProductDeleted, ProductUpdated
from emporium.contracts.orders import OrderConfirmed, OrderLine
from emporium.services.recommendations.messages import CHANGES, message_handlers
from emporium.services.recommendations.redis_store import RedisRecommendationStore
from emporium.services.recommendations.repository import (
    BACKFILL,
    ProductFacts,
    RecommendationStore,
)
from emporium.services.recommendations.sql_store import SqlRecommendationStore
from tests._servers import MARIADB_URL, POSTGRES_URL, REDIS_URL, fresh_database, require_server


class Store:
    """A store plus the unit of work the chassis consumer would run it in."""

    def __init__(self, store: RecommendationStore, database: Database) -> None:
        self.store = store
        self.database = database

    async def order(self, *product_ids: UUID, order_id: UUID | None = None) -> bool:
        async with self.database.unit_of_work() as uow:
            added = await self.store.add_order(uow, order_id or uuid.uuid4(), product_ids)
            await uow.commit()
            return added

    async def learn(self, product_id: UUID, categories: Sequence[str], as_of: int) -> bool:
        async with self.database.unit_of_work() as uow:
            learned = await self.store.learn_product(
                uow, ProductFacts(product_id, tuple(categories), as_of)
            )
            await uow.commit()
            return learned

    async def forget(self, product_id: UUID, as_of: int) -> None:
        async with self.database.unit_of_work() as uow:
            await self.store.forget_product(uow, product_id, as_of)
            await uow.commit()

    async def products(self, count: int, categories: Sequence[str] = ()) -> list[UUID]:
        created = sorted((uuid.uuid4() for _ in range(count)), key=str)
        for product_id in created:
            await self.learn(product_id, categories, 1_000)
        return created


@asynccontextmanager
async def _opened(database_url: str, backend: str) -> AsyncIterator[Store]:
    database = Database(database_url)
    await database.create_all()
    chosen: RecommendationStore
    if backend == "redis":
        url = require_server(REDIS_URL, "Redis")
        chosen = RedisRecommendationStore(url, prefix=f"test:{uuid.uuid4().hex}")
    else:
        chosen = SqlRecommendationStore(database)
    await chosen.start()
    try:
        yield Store(chosen, database)
    finally:
        await chosen.stop()
        await database.dispose()


# The production store is Redis; the SQL store is SQLite locally, and must work
# on the SQL servers the other services use, whose upserts differ.
@pytest.fixture(params=["sqlite", "postgresql", "mariadb", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'recommendations.db'}"
    if request.param in {"sqlite", "redis"}:
        async with _opened(sqlite, request.param) as opened:
            yield opened
        return
    server = {"postgresql": POSTGRES_URL, "mariadb": MARIADB_URL}[request.param]
    with fresh_database(require_server(server, request.param), "recs") as url:
        async with _opened(url, "sql") as opened:
            yield opened


async def test_an_unknown_product_has_no_facts_and_no_neighbours(store: Store) -> None:
    product = uuid.uuid4()
    assert await store.store.product(product) is None
    assert await store.store.together(product) == {}
    assert await store.store.same_category(product) == {}
    assert await store.store.ready()


async def test_each_order_adds_one_to_every_pair_it_holds(store: Store) -> None:
    a, b, c = await store.products(3)
    assert await store.order(a, b, c)
    assert await store.order(a, b)
    assert await store.store.together(a) == {b: 2, c: 1}
    assert await store.store.together(b) == {a: 2, c: 1}
    assert await store.store.together(c) == {a: 1, b: 1}


async def test_a_large_basket_counts_every_pair_once(store: Store) -> None:
    # 40 products: 1560 ordered pairs, more than one SQL statement carries.
    basket = await store.products(40)
    assert await store.order(*basket)
    for product in (basket[0], basket[-1]):
        assert await store.store.together(product) == {p: 1 for p in basket if p != product}


async def test_an_order_counts_once_however_often_it_is_added(store: Store) -> None:
    a, b = await store.products(2)
    order_id = uuid.uuid4()
    assert await store.order(a, b, order_id=order_id)
    assert not await store.order(a, b, order_id=order_id)
    assert await store.store.together(a) == {b: 1}


async def test_a_sql_order_rolled_back_counts_nothing_and_can_be_counted_later(
    tmp_path: Path,
) -> None:
    # Only the SQL store writes in the consumer's transaction; Redis' marker
    # and increments are one script, so they cannot be half done.
    async with _opened(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", "sql") as store:
        await _rolled_back_then_counted(store)


async def _rolled_back_then_counted(store: Store) -> None:
    a, b = await store.products(2)
    order_id = uuid.uuid4()
    async with store.database.unit_of_work() as uow:
        await store.store.add_order(uow, order_id, [a, b])
    assert await store.store.together(a) == {}
    assert await store.order(a, b, order_id=order_id)
    assert await store.store.together(a) == {b: 1}


async def test_products_the_catalog_never_announced_are_not_neighbours(store: Store) -> None:
    (known,) = await store.products(1)
    unannounced = uuid.uuid4()
    await store.order(known, unannounced)
    assert await store.store.together(known) == {}
    await store.learn(unannounced, [], 5_000)
    assert await store.store.together(known) == {unannounced: 1}


async def test_a_deleted_product_is_never_a_neighbour_and_its_deletion_is_final(
    store: Store,
) -> None:
    kept, gone = await store.products(2, ["kitchen"])
    await store.order(kept, gone)
    await store.forget(gone, 2_000)
    assert await store.store.together(kept) == {}
    assert await store.store.same_category(kept) == {}
    # A later fact about a deleted product (an update redelivered late) changes nothing.
    assert not await store.learn(gone, ["kitchen"], 9_000)
    facts = await store.store.product(gone)
    assert facts is not None
    assert facts.deleted
    assert await store.store.same_category(kept) == {}


async def test_a_deletion_arriving_before_the_creation_keeps_the_product_out(
    store: Store,
) -> None:
    (kept,) = await store.products(1, ["garden"])
    late = uuid.uuid4()
    await store.forget(late, 3_000)
    assert not await store.learn(late, ["garden"], 1_000)
    assert await store.store.same_category(kept) == {}
    facts = await store.store.product(late)
    assert facts is not None
    assert facts.deleted


async def test_same_category_counts_shared_categories_of_other_live_products(
    store: Store,
) -> None:
    product = uuid.uuid4()
    both, one, none = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await store.learn(product, ["kitchen", "tea"], 1_000)
    await store.learn(both, ["tea", "kitchen"], 1_000)
    await store.learn(one, ["tea", "garden"], 1_000)
    await store.learn(none, ["garden"], 1_000)
    assert await store.store.same_category(product) == {both: 2, one: 1}


async def test_newer_categories_replace_older_ones_and_older_ones_arriving_late_do_not(
    store: Store,
) -> None:
    product, neighbour = uuid.uuid4(), uuid.uuid4()
    await store.learn(neighbour, ["tea"], 1_000)
    await store.learn(product, ["garden"], 1_000)
    assert await store.learn(product, ["tea"], 2_000)
    assert not await store.learn(product, ["garden"], 1_500)
    facts = await store.store.product(product)
    assert facts == ProductFacts(product, ("tea",), 2_000)
    assert await store.store.same_category(neighbour) == {product: 1}


async def test_a_backfilled_fact_fills_a_gap_but_never_overrides_an_event(store: Store) -> None:
    from_event, from_backfill = uuid.uuid4(), uuid.uuid4()
    await store.learn(from_event, ["tea"], 1_000)
    assert not await store.learn(from_event, ["garden"], BACKFILL)
    assert await store.learn(from_backfill, ["garden"], BACKFILL)
    assert await store.learn(from_backfill, ["tea"], 1_000)
    assert await store.store.same_category(from_event) == {from_backfill: 1}


async def test_a_store_is_marked_backfilled_once_and_stays_so(store: Store) -> None:
    assert not await store.store.backfilled()
    await store.store.mark_backfilled()
    await store.store.mark_backfilled()
    assert await store.store.backfilled()


async def test_every_handler_reports_its_change_once_its_transaction_commits(store: Store) -> None:
    """What clears this replica's read model: each effect's commit, never an
    uncommitted one (a listener hears the event before the effect commits)."""
    changes: list[str] = []
    handlers = message_handlers(store.store, changed=lambda: changes.append("changed"))
    teapot, cups = uuid.uuid4(), uuid.uuid4()
    price = Money(amount=1)
    line = OrderLine(product_id=cups, sku="CUPS", name="cups", quantity=1, unit_price=price)
    events: list[Message] = [
        ProductCreated(product_id=teapot, sku="TEA", name="tea", price=Money(amount=1)),
        ProductUpdated(product_id=teapot, sku="TEA", name="tea", categories=["tea"]),
        OrderConfirmed(
            order_id=uuid.uuid4(),
            user_id=uuid.uuid4(),
            lines=[line.model_copy(update={"product_id": teapot}), line],
            total=Money(amount=2),
        ),
        ProductDeleted(product_id=teapot, sku="TEA"),
    ]
    assert {type(event) for event in events} == set(handlers) == set(CHANGES)
    for done, event in enumerate(events):
        async with store.database.unit_of_work() as uow:
            await handlers[type(event)](event, uow)
            assert len(changes) == done  # not yet: nothing is committed
        assert len(changes) == done  # rolled back: nothing changed
        async with store.database.unit_of_work() as uow:
            await handlers[type(event)](event, uow)
            await uow.commit()
        assert len(changes) == done + 1
