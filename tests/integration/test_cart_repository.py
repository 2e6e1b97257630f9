"""Both cart stores (SQL and Redis) keep the same contract, run against real servers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

import pytest

from emporium.chassis import Database, UnitOfWork
from emporium.services.cart.domain import CartLine
from emporium.services.cart.redis_store import RedisCartRepository
from emporium.services.cart.repository import CartRepository
from emporium.services.cart.sql_store import SqlCartRepository
from emporium.services.cart.sql_store import metadata as cart_tables

T = TypeVar("T")


class Store:
    def __init__(self, carts: CartRepository, database: Database) -> None:
        self.carts = carts
        self.database = database

    async def in_uow(self, effect: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run a message effect the way the chassis consumer does: one committed uow."""
        async with self.database.unit_of_work() as uow:
            result = await effect(uow)
            await uow.commit()
            return result


@pytest.fixture(params=["sql", "redis"])
async def store(request: pytest.FixtureRequest, sqlite_database: str) -> AsyncIterator[Store]:
    database = Database(sqlite_database)
    await database.create_all(cart_tables)
    carts: CartRepository
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        carts = RedisCartRepository(url, prefix=f"test:{uuid.uuid4().hex}", seen_ttl=120)
    else:
        carts = SqlCartRepository(database)
    await carts.start()
    try:
        yield Store(carts, database)
    finally:
        await carts.stop()
        await database.dispose()


def a_line(product_id: uuid.UUID | None = None, quantity: int = 1, price: int = 500) -> CartLine:
    product_id = product_id or uuid.uuid4()
    return CartLine(
        product_id=product_id,
        sku=f"SKU-{product_id.hex[:8]}",
        name="Teapot",
        quantity=quantity,
        unit_price=price,
        added_at=1_700_000_000_000,
    )


async def test_a_user_without_lines_has_an_empty_cart(store: Store) -> None:
    cart = await store.carts.get(uuid.uuid4())
    assert cart.lines == ()
    assert await store.carts.ready()


async def test_put_line_adds_and_then_replaces_the_quantity(store: Store) -> None:
    user, product = uuid.uuid4(), uuid.uuid4()
    assert await store.carts.put_line(user, a_line(product, 2), max_lines=10)
    assert await store.carts.put_line(user, a_line(product, 5, price=450), max_lines=10)
    (line,) = (await store.carts.get(user)).lines
    assert (line.quantity, line.unit_price, line.line_total) == (5, 450, 2250)


async def test_replacing_a_line_keeps_when_it_was_added(store: Store) -> None:
    user, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await store.carts.put_line(user, a_line(first), max_lines=10)
    await store.carts.put_line(user, _later(a_line(second)), max_lines=10)
    await store.carts.put_line(user, _later(a_line(first, 3)), max_lines=10)
    lines = (await store.carts.get(user)).lines
    assert [(line.product_id, line.quantity) for line in lines] == [(first, 3), (second, 1)]


def _later(line: CartLine) -> CartLine:
    return replace(line, added_at=line.added_at + 1000)


async def test_a_new_line_beyond_max_lines_is_refused_but_updates_are_not(store: Store) -> None:
    user, first = uuid.uuid4(), uuid.uuid4()
    assert await store.carts.put_line(user, a_line(first), max_lines=2)
    assert await store.carts.put_line(user, a_line(), max_lines=2)
    assert not await store.carts.put_line(user, a_line(), max_lines=2)
    assert await store.carts.put_line(user, a_line(first, 9), max_lines=2)
    assert len((await store.carts.get(user)).lines) == 2


async def test_carts_of_different_users_are_separate(store: Store) -> None:
    alice, bob, product = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await store.carts.put_line(alice, a_line(product, 1), max_lines=10)
    await store.carts.put_line(bob, a_line(product, 7), max_lines=10)
    await store.carts.clear(bob)
    (line,) = (await store.carts.get(alice)).lines
    assert line.quantity == 1
    assert (await store.carts.get(bob)).lines == ()


async def test_removing_a_line_is_idempotent_and_leaves_the_others(store: Store) -> None:
    user, gone, kept = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await store.carts.put_line(user, a_line(gone), max_lines=10)
    await store.carts.put_line(user, a_line(kept), max_lines=10)
    await store.carts.remove_line(user, gone)
    await store.carts.remove_line(user, gone)
    assert [line.product_id for line in (await store.carts.get(user)).lines] == [kept]


async def test_clear_empties_the_cart_and_its_product_index(store: Store) -> None:
    user, product = uuid.uuid4(), uuid.uuid4()
    await store.carts.put_line(user, a_line(product), max_lines=10)
    await store.carts.clear(user)
    await store.carts.clear(user)
    assert (await store.carts.get(user)).lines == ()
    changed = await store.in_uow(
        lambda uow: store.carts.reprice(uow, uuid.uuid4(), product, 1, "USD", 10)
    )
    assert changed == 0


async def test_reprice_updates_every_cart_holding_the_product(store: Store) -> None:
    users, product, other = [uuid.uuid4() for _ in range(3)], uuid.uuid4(), uuid.uuid4()
    for user in users:
        await store.carts.put_line(user, a_line(product, 2, price=1000), max_lines=10)
        await store.carts.put_line(user, a_line(other, 1, price=300), max_lines=10)
    changed = await store.in_uow(
        lambda uow: store.carts.reprice(uow, uuid.uuid4(), product, 800, "USD", 10)
    )
    assert changed == 3
    for user in users:
        cart = await store.carts.get(user)
        assert [line.unit_price for line in cart.lines if line.product_id == product] == [800]
        assert cart.total == 2 * 800 + 300


async def test_an_older_price_event_never_rolls_a_newer_one_back(store: Store) -> None:
    user, product = uuid.uuid4(), uuid.uuid4()
    await store.carts.put_line(user, a_line(product, price=1000), max_lines=10)
    await store.in_uow(lambda uow: store.carts.reprice(uow, uuid.uuid4(), product, 700, "USD", 20))
    await store.in_uow(lambda uow: store.carts.reprice(uow, uuid.uuid4(), product, 900, "USD", 10))
    (line,) = (await store.carts.get(user)).lines
    assert line.unit_price == 700


async def test_a_new_snapshot_keeps_the_time_of_the_last_price_event(store: Store) -> None:
    user, product = uuid.uuid4(), uuid.uuid4()
    await store.carts.put_line(user, a_line(product, price=1000), max_lines=10)
    await store.in_uow(lambda uow: store.carts.reprice(uow, uuid.uuid4(), product, 700, "USD", 20))
    await store.carts.put_line(user, a_line(product, 4, price=700), max_lines=10)
    await store.in_uow(lambda uow: store.carts.reprice(uow, uuid.uuid4(), product, 900, "USD", 10))
    (line,) = (await store.carts.get(user)).lines
    assert (line.quantity, line.unit_price, line.price_as_of) == (4, 700, 20)


async def test_withdraw_flags_the_product_lines_and_keeps_them(store: Store) -> None:
    user, product, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await store.carts.put_line(user, a_line(product), max_lines=10)
    await store.carts.put_line(user, a_line(other), max_lines=10)
    assert await store.in_uow(lambda uow: store.carts.withdraw(uow, uuid.uuid4(), product)) == 1
    cart = await store.carts.get(user)
    assert {line.product_id: line.available for line in cart.lines} == {
        product: False,
        other: True,
    }
    assert not cart.checkout_ready


async def test_remove_products_takes_only_the_ordered_products(store: Store) -> None:
    user, bought, kept = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await store.carts.put_line(user, a_line(bought), max_lines=10)
    await store.carts.put_line(user, a_line(kept), max_lines=10)
    removed = await store.in_uow(
        lambda uow: store.carts.remove_products(uow, uuid.uuid4(), user, [bought, uuid.uuid4()])
    )
    assert removed == 1
    assert [line.product_id for line in (await store.carts.get(user)).lines] == [kept]


async def test_concurrent_puts_to_one_cart_lose_no_update(store: Store) -> None:
    user = uuid.uuid4()
    products = [uuid.uuid4() for _ in range(20)]
    results = await asyncio.gather(
        *(store.carts.put_line(user, a_line(p, 2), max_lines=50) for p in products)
    )
    assert all(results)
    cart = await store.carts.get(user)
    assert {line.product_id for line in cart.lines} == set(products)
    assert cart.total == 20 * 2 * 500


async def test_concurrent_first_puts_of_one_product_make_one_line(store: Store) -> None:
    user, product = uuid.uuid4(), uuid.uuid4()
    await asyncio.gather(
        *(store.carts.put_line(user, a_line(product, q), max_lines=50) for q in range(1, 11))
    )
    (line,) = (await store.carts.get(user)).lines
    assert 1 <= line.quantity <= 10


async def test_concurrent_adds_never_exceed_max_lines(store: Store) -> None:
    user = uuid.uuid4()
    results = await asyncio.gather(
        *(store.carts.put_line(user, a_line(), max_lines=5) for _ in range(15))
    )
    assert sum(results) == len((await store.carts.get(user)).lines)
    assert len((await store.carts.get(user)).lines) <= 5


async def test_redis_applies_each_message_once_even_without_the_sql_inbox(
    sqlite_database: str, redis_url: str
) -> None:
    # The SQL inbox commit may fail after the Redis effect; the redelivery must
    # then change nothing, which the seen-marker (written with the effect) ensures.
    database = Database(sqlite_database)
    carts = RedisCartRepository(redis_url, prefix=f"test:{uuid.uuid4().hex}", seen_ttl=120)
    await carts.start()
    try:
        user, product = uuid.uuid4(), uuid.uuid4()
        await carts.put_line(user, a_line(product, price=1000), max_lines=10)
        order_message, price_message, delete_message = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        async with database.unit_of_work() as uow:
            assert await carts.reprice(uow, price_message, product, 600, "USD", 5) == 1
            assert await carts.withdraw(uow, delete_message, product) == 1
            # The user adds the product again: a redelivered OrderConfirmed must not take it.
            assert await carts.remove_products(uow, order_message, user, [product]) == 1
            await carts.put_line(user, a_line(product, 3, price=1000), max_lines=10)
            assert await carts.reprice(uow, price_message, product, 600, "USD", 5) == 0
            assert await carts.withdraw(uow, delete_message, product) == 0
            assert await carts.remove_products(uow, order_message, user, [product]) == 0
        (line,) = (await carts.get(user)).lines
        assert (line.quantity, line.unit_price, line.available) == (3, 1000, True)
    finally:
        await carts.stop()
        await database.dispose()
