"""The unit of work commits only when told to, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import String, select, text
from sqlalchemy.orm import Mapped, mapped_column

from emporium.chassis import Base, Database, ServiceSettings


class Note(Base):
    __tablename__ = "test_db_notes"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)


ENGINES = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
SQLITE = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


async def _ids(database: Database) -> list[str]:
    async with database.session() as session:
        return list(await session.scalars(select(Note.id)))


@ENGINES
async def test_unit_of_work_rolls_back_unless_committed(database: Database) -> None:
    async with database.unit_of_work() as uow:
        uow.session.add(Note(id="forgotten"))
    assert await _ids(database) == []


@ENGINES
async def test_unit_of_work_rolls_back_on_error(database: Database) -> None:
    async def fail_midway() -> None:
        async with database.unit_of_work() as uow:
            uow.session.add(Note(id="failed"))
            await uow.session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_midway()
    assert await _ids(database) == []


@ENGINES
async def test_committed_unit_of_work_persists(database: Database) -> None:
    async with database.unit_of_work() as uow:
        uow.session.add(Note(id="kept"))
        await uow.commit()
    assert await _ids(database) == ["kept"]


@ENGINES
async def test_after_commit_callbacks_run_once_the_data_is_committed_and_never_otherwise(
    database: Database,
) -> None:
    seen: list[tuple[str, bool]] = []

    async def note(name: str, *, commit: bool, fail: bool = False) -> None:
        async with database.unit_of_work() as uow:
            uow.session.add(Note(id=name))
            # What the callback sees: whether the transaction is still open.
            uow.after_commit(lambda: seen.append((name, uow.session.in_transaction())))
            if fail:
                raise RuntimeError("boom")
            if commit:
                await uow.commit()

    await note("kept", commit=True)
    await note("read only", commit=False)
    with pytest.raises(RuntimeError):
        await note("failed", commit=True, fail=True)
    assert seen == [("kept", False)]
    assert await _ids(database) == ["kept"]


@SQLITE
async def test_sqlite_runs_in_wal_mode(database: Database) -> None:
    async with database.session() as session:
        mode = await session.scalar(text("PRAGMA journal_mode"))
    assert str(mode).lower() == "wal"


def test_default_database_is_sqlite_under_var(tmp_path: Path) -> None:
    url = ServiceSettings().resolved_database_url("catalog", tmp_path)
    assert url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'data' / 'catalog.db'}"
    assert (
        ServiceSettings(database_url="postgresql+asyncpg://x/y").resolved_database_url(
            "catalog", tmp_path
        )
        == "postgresql+asyncpg://x/y"
    )
