"""The machine's servers, as tests reach them.

A test that needs PostgreSQL, MariaDB, Redis or RabbitMQ reads its URL from the
environment (``EMPORIUM_TEST_*_URL``, standard local port by default). Where the
server is unreachable the test is skipped with a loud reason, unless
``EMPORIUM_REQUIRE_SERVICES=1`` (set by ``.ci/run``), in which case it fails.
Tests use these through the fixtures in ``tests/conftest.py`` and
``tests/integration/conftest.py``; helpers that start a service call
:func:`require_server` themselves.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

__all__ = [
    "MARIADB_URL",
    "POSTGRES_URL",
    "RABBITMQ_URL",
    "REDIS_URL",
    "fresh_database",
    "require_server",
]

POSTGRES_URL = os.environ.get(
    "EMPORIUM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "EMPORIUM_TEST_MARIADB_URL", "mysql+aiomysql://root@127.0.0.1:3306/test"
)
REDIS_URL = os.environ.get("EMPORIUM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("EMPORIUM_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if port is None:
        return False
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_server(url: str, what: str) -> str:
    """Return ``url`` if its server answers; otherwise skip loudly (or fail in CI)."""
    if _reachable(url):
        return url
    message = f"{what} is unreachable at {url}: start it or set its EMPORIUM_TEST_* URL"
    if os.environ.get("EMPORIUM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"EMPORIUM_REQUIRE_SERVICES=1 and {message}")
    pytest.skip(f"SKIPPED LOUDLY: {message}")


@contextmanager
def fresh_database(server_url: str, prefix: str = "t") -> Iterator[str]:
    """A new, empty database on the PostgreSQL or MariaDB server of ``server_url``,
    dropped afterwards, so tests share a server but never a schema."""
    url = sa.make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    postgres = url.get_backend_name() == "postgresql"
    quoted = f'"{name}"' if postgres else f"`{name}`"
    drop = f"DROP DATABASE IF EXISTS {quoted}" + (" WITH (FORCE)" if postgres else "")

    async def admin(statement: str) -> None:
        # CREATE/DROP DATABASE cannot run in a transaction: autocommit, on the
        # maintenance database (PostgreSQL) or none (MariaDB).
        engine = create_async_engine(
            url.set(database="postgres" if postgres else None),
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,
        )
        try:
            async with engine.connect() as connection:
                await connection.execute(sa.text(statement))
        finally:
            await engine.dispose()

    def run(statement: str) -> None:
        # Its own thread and loop: callers may already be inside a test's loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, admin(statement)).result()

    run(f"CREATE DATABASE {quoted}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        run(drop)
