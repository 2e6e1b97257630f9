"""Every service's migrations: up from empty, down to empty, up again, on each engine.

Each service gets a database of its own (as in production: every store has an
``outbox`` and an ``inbox``). The drift check fails when a model changes
without a migration: write one (docs/operations.md, "Changing a table").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from emporium.chassis.migrations import Migrations
from emporium.launcher.migrate import stores
from emporium.launcher.specs import DEFAULT_TABLE
from tests._servers import fresh_database

STORES = stores(DEFAULT_TABLE)

NewDatabase = Callable[[], str]


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Makes empty databases on one engine, each dropped after the test."""
    engine: str = request.param
    if engine == "sqlite":
        files = iter(range(1000))
        yield lambda: f"sqlite+aiosqlite:///{tmp_path / f'store-{next(files)}.db'}"
        return
    server: str = request.getfixturevalue(
        "postgres_url" if engine == "postgresql" else "mariadb_url"
    )
    with ExitStack() as stack:
        yield lambda: stack.enter_context(fresh_database(server, prefix="mig"))


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


def test_every_service_with_a_store_has_migrations() -> None:
    assert set(STORES) == {
        "identity",
        "catalog",
        "inventory",
        "cart",
        "payments",
        "shipping",
        "notifications",
        "orders",
        "recommendations",
    }
    assert {m.version_table for m in STORES.values()} == {
        f"alembic_version_{name}" for name in STORES
    }


@pytest.mark.parametrize("service", list(STORES))
async def test_migrations_upgrade_from_empty_downgrade_to_empty_and_upgrade_again(
    service: str, new_database: NewDatabase
) -> None:
    migrations, url = STORES[service], new_database()
    await migrations.upgrade(url)
    assert await migrations.current(url) == migrations.head
    assert set(migrations.metadata.tables) | {migrations.version_table} <= await _tables(url)

    await migrations.downgrade(url)
    assert await migrations.current(url) is None
    assert await _tables(url) <= {migrations.version_table}

    await migrations.upgrade(url)
    assert await migrations.current(url) == migrations.head
    assert await migrations.drift(url) == [], "a model changed without a migration"


async def test_a_store_made_before_migrations_is_adopted_not_recreated(
    new_database: NewDatabase,
) -> None:
    migrations: Migrations = STORES["orders"]
    url = new_database()
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(migrations.metadata.create_all)
    finally:
        await engine.dispose()
    await migrations.upgrade(url)
    assert await migrations.current(url) == migrations.head


async def test_replicas_starting_together_migrate_once_and_all_start(
    new_database: NewDatabase,
) -> None:
    migrations, url = STORES["inventory"], new_database()
    await asyncio.gather(*(migrations.upgrade(url) for _ in range(4)))
    assert await migrations.current(url) == migrations.head
    assert await migrations.drift(url) == []
