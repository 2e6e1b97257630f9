"""Database access: one async engine per process and a unit of work.

Any SQLAlchemy async URL works (``sqlite+aiosqlite``, ``postgresql+asyncpg``,
``mysql+aiomysql``). SQLite runs in WAL mode with a busy timeout so several
processes (replicas, the outbox relay) can share one file.

A SQLite file is created owner-only (0600) before SQLite opens it, whatever
the umask: SQLite gives its ``-wal`` and ``-shm`` files the database file's
mode, so customers' data is never readable by other local users.

A :class:`UnitOfWork` is one database transaction. It rolls back unless
:meth:`UnitOfWork.commit` was called, so an exception or a forgotten commit
never leaves half a change behind::

    async with database.unit_of_work() as uow:
        uow.session.add(product)
        outbox.add(uow.session, ProductCreated(...))
        await uow.commit()
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from sqlalchemy import MetaData, event, make_url, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base", "Database", "UnitOfWork"]

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every service's tables (and the outbox/inbox).

    Each service process creates only the tables it imports, in its own store.
    """

    metadata = MetaData(naming_convention=_NAMING)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _private_sqlite_file(url: str) -> None:
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:
        return  # no such directory: SQLite will say so when it connects
    try:
        os.fchmod(descriptor, 0o600)  # also tightens a file an older version made
    finally:
        os.close(descriptor)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.chmod(path + suffix, 0o600)


class UnitOfWork:
    """One transaction; rolls back on exit unless committed."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True


class Database:
    """Owns the engine and hands out sessions and units of work."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 10}
            _private_sqlite_file(url)
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.sessions())

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads: closed on exit (its transaction rolled back), and
        the objects it loaded stay readable, detached, for building a response."""
        async with self.sessions() as session:
            yield session

    async def create_all(self, metadata: MetaData = Base.metadata) -> None:
        """Create missing tables (the embedded default; idempotent)."""
        # Replicas starting together may race to create the same table; the
        # loser sees "already exists" and simply checks again.
        for attempt in range(3):
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(metadata.create_all)
                return
            except (OperationalError, ProgrammingError):
                if attempt == 2:
                    raise

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
