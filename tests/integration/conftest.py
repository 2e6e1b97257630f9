"""Fixtures of the integration tier: real stores, made fresh for each test.

``database`` is a store with every table created, on the engine a module names by
parametrizing it indirectly (``"sqlite"``, ``"postgresql"``, ``"mariadb"``)::

    pytestmark = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)

SQLite is a file in the test's ``tmp_path``; PostgreSQL and MariaDB get a new
database on the machine's server, dropped after the test, so tests share a server
but never a schema (skipped loudly when the server is unreachable).

``catalog`` is a seeded catalog service in-process, once on each store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from emporium.chassis import Database
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
async def database(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A store with every mapped table created, on the engine the test is parametrized with."""
    engine = getattr(request, "param", None)
    if engine not in ("sqlite", "postgresql", "mariadb"):
        pytest.fail(
            'parametrize "database" indirectly with its engines: "sqlite", "postgresql", "mariadb"'
        )
    database = Database(request.getfixturevalue(f"{engine}_database"))
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
