"""Hardening that touches files and a running app.

Owner-only stores and keys; request ids and trusted clients end to end.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Request
from sqlalchemy import text

from emporium.chassis import ChassisSettings, Database, ServiceSettings, create_service
from emporium.launcher.tls import ensure_tls


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_service_replaces_a_hostile_request_id_and_resolves_trusted_clients(
    tmp_path: Path,
) -> None:
    router = APIRouter()

    @router.get("/api/probe/who")
    async def who(request: Request) -> dict[str, str]:
        assert request.client is not None
        return {"client": request.client.host, "scheme": request.url.scheme}

    settings = ChassisSettings(var_dir=tmp_path, trusted_proxies=["10.0.0.1"])
    app = create_service("probe", chassis=settings, routers=[router])
    forwarded = {"X-Forwarded-For": "203.0.113.4", "X-Forwarded-Proto": "https"}
    for peer, expected in (
        ("10.0.0.1", {"client": "203.0.113.4", "scheme": "https"}),
        ("10.0.0.2", {"client": "10.0.0.2", "scheme": "http"}),
    ):
        transport = httpx.ASGITransport(app=app, client=(peer, 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            response = await client.get(
                "/api/probe/who", headers={"X-Request-ID": "r" * 20_000, **forwarded}
            )
        assert response.status_code == 200
        assert len(response.headers["x-request-id"]) == 32
        assert response.json() == expected


@pytest.mark.usefixtures("permissive_umask")
async def test_sqlite_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "data" / "probe.db"
    path.parent.mkdir()
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with database.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        made = [p for p in path.parent.iterdir()]
        assert {p.name for p in made} >= {"probe.db", "probe.db-wal", "probe.db-shm"}
        assert {p.name: _mode(p) for p in made} == {p.name: 0o600 for p in made}
    finally:
        await database.dispose()


@pytest.mark.usefixtures("permissive_umask")
async def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.dispose()
    assert _mode(path) == 0o600


@pytest.mark.usefixtures("permissive_umask")
def test_the_embedded_data_directory_is_private(tmp_path: Path) -> None:
    ServiceSettings().resolved_database_url("probe", tmp_path)
    assert _mode(tmp_path / "data") == 0o700


@pytest.mark.usefixtures("permissive_umask")
def test_local_tls_private_keys_and_their_directory_are_owner_only(tmp_path: Path) -> None:
    files = ensure_tls(tmp_path / "tls")
    assert _mode(tmp_path / "tls") == 0o700
    assert _mode(files.key) == 0o600
    assert _mode(tmp_path / "tls" / "ca-key.pem") == 0o600


async def test_the_access_log_names_the_resolved_client_not_a_spoofed_one(
    tmp_path: Path,
) -> None:
    app = create_service(
        "probe", chassis=ChassisSettings(var_dir=tmp_path, trusted_proxies=["10.0.0.1"])
    )
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    access = logging.getLogger("emporium.access")
    keep = Keep()
    access.addHandler(keep)  # after create_service, which reconfigures the root logger
    try:
        spoof = {"X-Forwarded-For": "203.0.113.99"}
        for peer in ("192.0.2.50", "10.0.0.1"):
            transport = httpx.ASGITransport(app=app, client=(peer, 5000))
            async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
                await client.get("/api/probe/nothing", headers=spoof)
    finally:
        access.removeHandler(keep)
    assert [getattr(r, "client", None) for r in records] == ["192.0.2.50", "203.0.113.99"]
