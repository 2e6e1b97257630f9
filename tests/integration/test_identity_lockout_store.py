"""The per-account backoff lives in identity's store, so replicas agree: on
SQLite and on PostgreSQL, failures recorded by two replicas add up to one lock
that both enforce."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from emporium.chassis import Database, Problem
from emporium.services.identity.lockout import Lockout
from emporium.services.identity.models import LoginThrottle
from tests._servers import POSTGRES_URL, fresh_database, require_server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}"
        return
    with fresh_database(require_server(POSTGRES_URL, "PostgreSQL"), "lockout") as url:
        yield url


@pytest.fixture
async def replicas(store_url: str) -> AsyncIterator[tuple[Lockout, Lockout]]:
    databases = [Database(store_url), Database(store_url)]
    await databases[0].create_all(LoginThrottle.metadata)
    settings = {"free_failures": 3, "window_seconds": 600, "base_seconds": 60, "cap_seconds": 600}
    try:
        yield Lockout(databases[0], **settings), Lockout(databases[1], **settings)
    finally:
        for database in databases:
            await database.dispose()


async def test_failures_on_two_replicas_add_up_to_one_lock_both_enforce(
    replicas: tuple[Lockout, Lockout],
) -> None:
    one, two = replicas
    email = "victim@example.com"
    await one.failed(email)
    await two.failed(email)
    await one.check(email)  # two failures: not locked yet
    await two.failed(email)
    for replica in (one, two):
        with pytest.raises(Problem) as locked:
            await replica.check(email)
        assert locked.value.status == 429
        assert 1 <= int(locked.value.headers["Retry-After"]) <= 60
    await one.check("someone-else@example.com")


async def test_concurrent_first_failures_on_two_replicas_are_both_counted(
    replicas: tuple[Lockout, Lockout],
) -> None:
    one, two = replicas
    email = "race@example.com"
    await asyncio.gather(one.failed(email), two.failed(email))
    await one.failed(email)
    with pytest.raises(Problem):
        await two.check(email)


async def test_a_success_on_either_replica_clears_the_count(
    replicas: tuple[Lockout, Lockout],
) -> None:
    one, two = replicas
    email = "forgetful@example.com"
    await one.failed(email)
    await one.failed(email)
    await two.succeeded(email)
    await one.failed(email)
    await two.check(email)
