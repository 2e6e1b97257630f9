"""SQLite calls on the event loop's thread (decision 0024): same results, and a
lock held elsewhere is waited for without stopping the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from emporium.chassis import _sqlite_inline
from emporium.chassis.db import Database

METADATA = sa.MetaData()
ROWS = sa.Table(
    "rows",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(20), nullable=False),
)


async def _database(tmp_path: Path) -> Database:
    database = Database(
        f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}", metadata=METADATA, sqlite_inline=True
    )
    await database.create_all()
    return database


async def test_inline_connections_commit_and_read_back_without_a_worker_thread(
    tmp_path: Path,
) -> None:
    database = await _database(tmp_path)
    async with database.unit_of_work() as uow:
        await uow.session.execute(sa.insert(ROWS).values(name="a"))
        await uow.commit()
    async with database.unit_of_work() as uow:
        await uow.session.execute(sa.insert(ROWS).values(name="rolled back"))
    async with database.session() as session:
        names = (await session.execute(sa.select(ROWS.c.name))).scalars().all()
    assert names == ["a"]
    async with database.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
    assert isinstance(driver, _sqlite_inline.InlineConnection)
    assert not driver._thread.is_alive()
    await database.dispose()


def _hold_write_lock(path: Path, seconds: float, held: threading.Event) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    held.set()
    threading.Event().wait(seconds)
    other.execute("COMMIT")
    other.close()


async def test_a_lock_held_elsewhere_is_waited_for_while_the_loop_runs(tmp_path: Path) -> None:
    database = await _database(tmp_path)
    held = threading.Event()
    holder = threading.Thread(
        target=_hold_write_lock, args=(tmp_path / "inline.db", 0.3, held), daemon=True
    )
    holder.start()
    held.wait(5)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        async with database.unit_of_work() as uow:
            await uow.session.execute(sa.insert(ROWS).values(name="after the lock"))
            await uow.commit()
    finally:
        ticker.cancel()
    holder.join(5)
    # A busy handler sleeping inside the call would have frozen the ticker for 0.3 s.
    assert ticks >= 10
    async with database.session() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(ROWS))).scalar() == 1
    await database.dispose()


async def test_a_lock_held_past_the_busy_timeout_fails_as_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = await _database(tmp_path)
    monkeypatch.setattr(_sqlite_inline, "_LONGEST_WAIT", 0.01)
    # The engine's connections were made with the default timeout: give them a short one.
    async with database.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        inline = raw.driver_connection
        assert isinstance(inline, _sqlite_inline.InlineConnection)
        inline._busy_timeout = 0.05
        held = threading.Event()
        holder = threading.Thread(
            target=_hold_write_lock, args=(tmp_path / "inline.db", 0.5, held), daemon=True
        )
        holder.start()
        held.wait(5)
        with pytest.raises(OperationalError, match="locked"):
            await conn.execute(sa.insert(ROWS).values(name="too late"))
        await conn.rollback()
    holder.join(5)
    await database.dispose()
