"""Database access: one async engine per process and a unit of work.

Any SQLAlchemy async URL works (``sqlite+aiosqlite``, ``postgresql+asyncpg``,
``mysql+aiomysql``). SQLite runs in WAL mode with a busy timeout so several
processes (replicas, the outbox relay) can share one file.

A SQLite file is created owner-only (0600) before SQLite opens it, whatever
the umask: SQLite gives its ``-wal`` and ``-shm`` files the database file's
mode, so customers' data is never readable by other local users.

A :class:`UnitOfWork` is one database transaction. It rolls back unless
:meth:`UnitOfWork.commit` was called, so an exception or a forgotten commit
never leaves half a change behind. A service with repositories subclasses it
and hands them out (``uow.stock``, ``uow.orders``), cosmicpython style; the
database is told which class to make::

    database = Database(url, unit_of_work=InventoryUnitOfWork, outbox=outbox)
    async with database.unit_of_work() as uow:
        item = await uow.stock.item(sku)
        await uow.publish(StockChanged(...))   # the outbox, same transaction
        await uow.commit()

:func:`transactionally` runs such a block and retries it when it lost a race.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Generic, Protocol, Self

from sqlalchemy import MetaData, event, make_url, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm.exc import StaleDataError
from typing_extensions import TypeVar

from emporium.chassis._sqlite_inline import inline_connector
from emporium.chassis.backoff import Backoff
from emporium.contracts._base import Message

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "Database",
    "Publisher",
    "Transaction",
    "UnitOfWork",
    "lost_race",
    "service_metadata",
    "transactionally",
]

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
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

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def service_metadata() -> MetaData:
    """A fresh ``MetaData`` for one service's tables, with the shared naming convention.

    One per service, so a process creates (and migrates) only its own tables,
    whatever else it happened to import.
    """
    return MetaData(naming_convention=NAMING_CONVENTION)


SQLITE_BUSY_TIMEOUT = 10.0


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return pragmas


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


class Publisher(Protocol):
    """Where a unit of work's integration events go: the chassis ``Outbox``."""

    async def add(self, session: AsyncSession, message: Message) -> None: ...


class UnitOfWork:
    """One transaction; rolls back on exit unless committed.

    :meth:`publish` puts integration events in the same transaction (the
    outbox), so an event exists if and only if the change it announces
    committed. Subclasses add the service's repositories over :attr:`session`.
    """

    def __init__(self, session: AsyncSession, publisher: Publisher | None = None) -> None:
        self.session = session
        self._publisher = publisher
        self._committed = False
        self._after_commit: list[Callable[[], None]] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._after_commit.clear()
        try:
            if not self._committed and exc_type is not None:
                # A failed change: expire what it touched, so nothing stale is read.
                await self.session.rollback()
        finally:
            # Ends the transaction, rolling back whatever was not committed. A
            # clean exit without commit is a read: what it loaded stays readable,
            # detached, for building an answer.
            await self.session.close()

    async def publish(self, *messages: Message) -> None:
        """Add ``messages`` to the outbox in this transaction (published after commit)."""
        if self._publisher is None:
            raise RuntimeError("this unit of work has no outbox: the service does no messaging")
        for message in messages:
            await self._publisher.add(self.session, message)

    async def flush(self) -> None:
        """Send pending changes now, so a lost optimistic race fails here."""
        await self.session.flush()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this transaction commits; never if it does not.

        For what must follow the data but is no part of it, such as a read
        model forgetting what a consumer's write changed (a write that
        publishes nothing, so the outbox's own hook never hears of it).
        """
        self._after_commit.append(callback)

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()


class Transaction(Protocol):
    """What :func:`transactionally` needs: a unit of work, real or fake."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


U = TypeVar("U", bound=UnitOfWork, default=UnitOfWork)
W = TypeVar("W", bound=Transaction)
T = TypeVar("T")


class Database(Generic[U]):
    """Owns the engine and hands out sessions and units of work.

    ``unit_of_work`` is the class :meth:`unit_of_work` makes (the service's,
    with its repositories); ``publisher`` is the outbox those units publish to.
    ``sqlite_inline`` runs a SQLite file's calls on the event loop's thread
    (:mod:`emporium.chassis._sqlite_inline`) rather than aiosqlite's own.
    """

    def __init__(
        self,
        url: str,
        *,
        metadata: MetaData | None = None,
        # The default is right for the default U; mypy cannot see that a
        # default argument and a default type variable go together.
        unit_of_work: Callable[[AsyncSession, Publisher | None], U] = UnitOfWork,  # type: ignore[assignment]
        publisher: Publisher | None = None,
        echo: bool = False,
        sqlite_inline: bool = False,
    ) -> None:
        self.url = url
        self.metadata = metadata if metadata is not None else Base.metadata
        self._make_unit_of_work = unit_of_work
        self.publisher = publisher
        kwargs: dict[str, Any] = {"echo": echo}
        busy_timeout_ms = int(SQLITE_BUSY_TIMEOUT * 1000)
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT}
            _private_sqlite_file(url)
            path = make_url(url).database
            if sqlite_inline and path and path != ":memory:" and not path.startswith("file:"):
                kwargs["async_creator"] = inline_connector(path, busy_timeout=SQLITE_BUSY_TIMEOUT)
                busy_timeout_ms = 0  # it waits for locks itself, without blocking the loop
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def unit_of_work(self) -> U:
        return self._make_unit_of_work(self.sessions(), self.publisher)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads: closed on exit (its transaction rolled back), and
        the objects it loaded stay readable, detached, for building a response."""
        async with self.sessions() as session:
            yield session

    async def create_all(self, metadata: MetaData | None = None) -> None:
        """Create missing tables (the embedded default; idempotent)."""
        metadata = metadata if metadata is not None else self.metadata
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


def lost_race(exc: BaseException) -> bool:
    """Whether ``exc`` means "another transaction got there first; try again".

    An optimistic version that moved (``StaleDataError``), a unique key taken
    meanwhile, a deadlock, a serialization failure or SQLite's "database is
    locked". A broken connection is not a race: it is left to the caller.
    """
    if isinstance(exc, StaleDataError | IntegrityError):
        return True
    return (
        isinstance(exc, DBAPIError)
        and exc.connection_invalidated is False
        and any(marker in str(exc.orig).lower() for marker in ("deadlock", "serializ", "locked"))
    )


RACE_BACKOFF = Backoff(base=0.01, cap=0.2, jitter=1.0)


async def transactionally(
    unit_of_work: Callable[[], W],
    work: Callable[[W], Awaitable[T]],
    *,
    retries: int = 4,
    backoff: Backoff = RACE_BACKOFF,
) -> T:
    """Run ``work`` in a fresh unit of work and commit it; the one retry loop.

    A lost race (:func:`lost_race`) is tried again, up to ``retries`` more
    times, after a short jittered backoff; anything else, or the last lost
    race, propagates. ``work`` must not commit: the commit is here, so the
    whole attempt is one transaction.
    """
    if retries < 0:
        raise ValueError("retries must not be negative")
    for attempt in range(1, retries + 2):
        try:
            async with unit_of_work() as uow:
                result = await work(uow)
                await uow.commit()
                return result
        except Exception as exc:
            if attempt > retries or not lost_race(exc):
                raise
            logger.info("transaction lost a race (attempt %d): %s", attempt, type(exc).__name__)
            await asyncio.sleep(backoff.delay(attempt, random.random))
    raise AssertionError("unreachable")  # pragma: no cover
