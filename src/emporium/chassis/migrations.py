"""Schema migrations: one Alembic history per service, run through Alembic's Python API.

Each service with a store keeps its revisions in its own package
(``services/<name>/migrations/versions/``, shipped in the image) and its own
version table, ``alembic_version_<name>``, so the history is the service's own even on a
shared server. (Two services never share one database: each has an
``outbox`` and an ``inbox`` table.) There is no
``alembic.ini``: :class:`Migrations` builds the configuration, and the
directory's ``env.py`` is two lines calling :func:`run_env`.

The chassis runs :meth:`Migrations.upgrade` to ``head`` at start-up (instead of
``create_all``) under a lock held for the whole upgrade — PostgreSQL's
advisory lock, MariaDB's ``GET_LOCK``, a file lock beside a SQLite file — so
replicas starting together migrate once and the others find it done
(decision 0018).

A store made before migrations existed (every table, no version table) is adopted:
its baseline revision is stamped, then newer revisions apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from emporium.chassis.messaging import messaging_tables

__all__ = ["BASELINE", "Migrations", "run_env"]

BASELINE = "0001"
LOCK_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Migrations:
    """One service's migration history: its tables, its revisions, its version table.

    ``messaging`` adds the chassis' outbox and inbox tables to ``metadata``, as
    :func:`~emporium.chassis.create_service` does, so they are migrated with the
    service's own. ``metadata.info["unmanaged"]`` names tables (by prefix),
    columns (``table.column``) and indexes a revision makes with raw SQL that
    the model does not describe (catalog's search index); the drift check
    ignores them.
    """

    service: str
    metadata: sa.MetaData
    directory: Path
    messaging: bool = False

    def __post_init__(self) -> None:
        if self.messaging:
            messaging_tables(self.metadata)

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.service}"

    def config(self, connection: sa.Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        config.attributes["migrations"] = self
        config.attributes["connection"] = connection
        return config

    @property
    def head(self) -> str:
        head = ScriptDirectory.from_config(self.config()).get_current_head()
        if head is None:
            raise RuntimeError(f"{self.service} has no migrations in {self.directory}")
        return head

    async def upgrade(self, url: str, revision: str = "head") -> None:
        """Bring the store at ``url`` to ``revision``; safe to run from many replicas at once."""
        async with _engine(url) as engine, self._locked(engine) as connection:
            await connection.run_sync(self._upgrade, revision)
            await connection.commit()

    async def downgrade(self, url: str, revision: str = "base") -> None:
        """Undo revisions down to ``revision`` (``base``: an empty store)."""
        async with _engine(url) as engine, self._locked(engine) as connection:
            await connection.run_sync(lambda sync: command.downgrade(self.config(sync), revision))
            await connection.commit()

    async def current(self, url: str) -> str | None:
        """The revision the store is at (``None``: never migrated)."""
        async with _engine(url) as engine, engine.connect() as connection:
            return await connection.run_sync(self._current)

    async def drift(self, url: str) -> list[Any]:
        """What differs between the store at ``url`` and the model (empty: nothing)."""
        async with _engine(url) as engine, engine.connect() as connection:
            return await connection.run_sync(self._drift)

    def _current(self, connection: sa.Connection) -> str | None:
        migration = MigrationContext.configure(
            connection, opts={"version_table": self.version_table}
        )
        return migration.get_current_revision()

    def _upgrade(self, connection: sa.Connection, revision: str) -> None:
        config = self.config(connection)
        if self._current(connection) is None and self._has_every_table(connection):
            command.stamp(config, BASELINE)
        command.upgrade(config, revision)

    def _has_every_table(self, connection: sa.Connection) -> bool:
        # Only a whole store is adopted; a partial one fails loudly in the upgrade.
        existing = set(sa.inspect(connection).get_table_names())
        return set(self.metadata.tables) <= existing

    def _drift(self, connection: sa.Connection) -> list[Any]:
        from alembic.autogenerate import compare_metadata

        migration = MigrationContext.configure(
            connection,
            opts={
                "version_table": self.version_table,
                "include_object": self.include_object,
                "compare_type": True,
            },
        )
        return list(compare_metadata(migration, self.metadata))

    def include_object(
        self, obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        """Alembic's filter: leave out other services' tables and what raw SQL made."""
        unmanaged: tuple[str, ...] = tuple(self.metadata.info.get("unmanaged", ()))
        if type_ == "table":
            if name == self.version_table:
                return False
            if reflected and name not in self.metadata.tables:
                # Another service's table in a shared database is not drift;
                # neither is a table a revision made by hand (search index).
                return False
            return not any((name or "").startswith(prefix) for prefix in unmanaged)
        table = getattr(getattr(obj, "table", None), "name", "")
        return name not in unmanaged and f"{table}.{name}" not in unmanaged

    @contextlib.asynccontextmanager
    async def _locked(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        dialect = engine.dialect.name
        if dialect == "sqlite":
            async with _file_lock(engine.url.database), engine.connect() as connection:
                yield connection
            return
        async with engine.connect() as connection:
            key = f"emporium_migrate_{self.service}"
            if dialect == "postgresql":
                number = int.from_bytes(
                    hashlib.sha256(key.encode()).digest()[:8], "big", signed=True
                )
                await connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": number})
                await connection.commit()
                try:
                    yield connection
                finally:
                    await connection.rollback()
                    await connection.execute(
                        sa.text("SELECT pg_advisory_unlock(:k)"), {"k": number}
                    )
                    await connection.commit()
            else:
                got = await connection.scalar(
                    sa.text("SELECT GET_LOCK(:k, :t)"), {"k": key, "t": LOCK_TIMEOUT_SECONDS}
                )
                if got != 1:
                    raise TimeoutError(f"{self.service}: another migration held {key} too long")
                await connection.commit()
                try:
                    yield connection
                finally:
                    await connection.rollback()
                    await connection.execute(sa.text("SELECT RELEASE_LOCK(:k)"), {"k": key})
                    await connection.commit()


@contextlib.asynccontextmanager
async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _file_lock(database: str | None) -> AsyncIterator[None]:
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    path = f"{database}.migrate-lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # In a thread: waiting must not block this process' event loop (two
        # start-ups in one process, as in tests, would otherwise deadlock).
        await asyncio.to_thread(fcntl.flock, descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def run_env() -> None:
    """The body of every service's ``migrations/env.py``: migrate the connection given."""
    config = context.config
    migrations: Migrations = config.attributes["migrations"]
    connection: sa.Connection | None = config.attributes.get("connection")
    options: dict[str, Any] = {
        "target_metadata": migrations.metadata,
        "version_table": migrations.version_table,
        "include_object": migrations.include_object,
        # SQLite alters a table by copying it; the other engines ignore this.
        "render_as_batch": True,
        "compare_type": True,
    }
    if connection is None:
        raise RuntimeError("migrations run through emporium.chassis.migrations.Migrations only")
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()
