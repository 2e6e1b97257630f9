"""Fixtures of the integration tier: real stores, made fresh for each test.

``database`` is a store with every table created, on the engine a module names by
parametrizing it indirectly (``"sqlite"``, ``"postgresql"``, ``"mariadb"``)::

    pytestmark = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)

SQLite is a file in the test's ``tmp_path``; PostgreSQL and MariaDB get a new
database on the machine's server, dropped after the test, so tests share a server
but never a schema (skipped loudly when the server is unreachable).

A module whose service has its own tables or unit of work overrides
``store_metadata`` and ``store_unit_of_work``; the store's units of work publish
to an outbox in those tables.

``catalog`` is a seeded catalog service in-process, once on each store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from emporium.chassis import Base, Database, Publisher, UnitOfWork
from emporium.chassis.messaging import Outbox, messaging_tables
from emporium.launcher.nats import EmbeddedNats
from tests._servers import fresh_database
from tests.integration._catalog import STORES, Catalog, catalog_on


@pytest.fixture
def sqlite_database(tmp_path: Path) -> str:
    """The URL of a new SQLite file of the test's own."""
    return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgresql_database(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the machine's PostgreSQL; dropped after."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture
def mariadb_database(mariadb_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the machine's MariaDB; dropped after."""
    with fresh_database(mariadb_url) as url:
        yield url


@pytest.fixture
def store_metadata() -> MetaData:
    """The tables of the store under test; a service's module overrides it with its own."""
    return Base.metadata


@pytest.fixture
def store_unit_of_work() -> Callable[[AsyncSession, Publisher | None], UnitOfWork]:
    """The unit of work the store makes; a layered service's module overrides it."""
    return UnitOfWork


@pytest.fixture
async def database(
    request: pytest.FixtureRequest,
    store_metadata: MetaData,
    store_unit_of_work: Callable[[AsyncSession, Publisher | None], UnitOfWork],
) -> AsyncIterator[Database[Any]]:
    """A store with its tables created, on the engine the test is parametrized with."""
    engine = getattr(request, "param", None)
    if engine not in ("sqlite", "postgresql", "mariadb"):
        pytest.fail(
            'parametrize "database" indirectly with its engines: "sqlite", "postgresql", "mariadb"'
        )
    outbox_table, _ = messaging_tables(store_metadata)
    database = Database(
        request.getfixturevalue(f"{engine}_database"),
        metadata=store_metadata,
        unit_of_work=store_unit_of_work,
        publisher=Outbox(table=outbox_table),
    )
    await database.create_all()
    yield database
    await database.dispose()


@pytest.fixture(params=STORES)
async def catalog(
    request: pytest.FixtureRequest, var_dir: Path, embedded_nats: EmbeddedNats
) -> AsyncIterator[Catalog]:
    """A seeded catalog service in-process, on SQLite and on PostgreSQL."""
    async with catalog_on(request.param, request, var_dir, embedded_nats) as catalog:
        yield catalog
