"""SQLite on the event loop's own thread: aiosqlite's API without its thread hop.

aiosqlite runs every call (each statement, each fetch, the commit) on a worker
thread and hands the result back through the event loop: a queue put, a
thread wake-up, a GIL hand-over and a ``call_soon_threadsafe`` per call. Under
the checkout saga that hand-over was about a fifth of orders' and inventory's
CPU (py-spy, decision 0024), for statements that take microseconds.

:class:`InlineConnection` keeps aiosqlite's ``Connection`` (so SQLAlchemy's
aiosqlite dialect drives it unchanged) but runs each call inline. What must not
happen inline is *waiting*: SQLite's busy handler sleeps inside the call, which
would stop the whole event loop, and with it the transaction that holds the
lock. So the connection is opened with no busy timeout, and a call refused with
``SQLITE_BUSY`` is retried after an ``asyncio.sleep`` (1 ms doubling to 50 ms)
until ``busy_timeout`` has passed, as the busy handler would have: the loop
keeps running meanwhile. ``SQLITE_BUSY_SNAPSHOT`` (a read transaction that
cannot become a write one) is raised at once, as SQLite itself does.

Durability is SQLite's, unchanged: a commit returns after the WAL write, the
same call on the same connection, only on another thread than before.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import aiosqlite

__all__ = ["InlineConnection", "inline_connector"]

_SQLITE_BUSY = 5
_FIRST_WAIT = 0.001
_LONGEST_WAIT = 0.05


class _InlineQueue:
    """Stands in for the worker thread's queue, which SQLAlchemy's dialect also
    feeds directly (its isolation-level setter): runs the call at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the caller's thread (see the module)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], busy_timeout: float) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._busy_timeout = busy_timeout
        self._tx = _InlineQueue()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect_inline().__await__()

    async def _connect_inline(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        waited, wait = 0.0, _FIRST_WAIT
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", None) != _SQLITE_BUSY:
                    raise
                if waited >= self._busy_timeout:
                    raise
            await asyncio.sleep(wait)
            waited += wait
            wait = min(wait * 2, _LONGEST_WAIT)

    def stop(self) -> asyncio.Future[Any] | None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return None

    async def close(self) -> None:
        self.stop()


def inline_connector(path: str, *, busy_timeout: float) -> Callable[[], Awaitable[Any]]:
    """SQLAlchemy's ``async_creator`` for a SQLite file, connections inline."""

    async def create() -> InlineConnection:
        # timeout=0: no busy handler sleeping inside a call (see the module).
        return await InlineConnection(
            lambda: sqlite3.connect(path, timeout=0, check_same_thread=False),
            busy_timeout,
        )

    return create
