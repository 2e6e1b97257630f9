"""The chassis' hardening: who the client is, which request ids are echoed, file modes."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from sqlalchemy import text

from emporium.chassis import ChassisSettings, Database, ServiceSettings, create_service
from emporium.chassis.forwarded import TrustedProxies
from emporium.chassis.middleware import acceptable_request_id
from emporium.launcher.tls import ensure_tls


def scope(peer: str, *headers: tuple[bytes, bytes], scheme: str = "http") -> dict[str, Any]:
    return {"type": "http", "client": (peer, 1234), "scheme": scheme, "headers": list(headers)}


def test_forwarding_headers_are_ignored_when_no_proxy_is_trusted() -> None:
    request = scope("127.0.0.1", (b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-proto", b"https"))
    peer = TrustedProxies().resolve(request)
    assert (peer.address, peer.scheme) == ("127.0.0.1", "http")


def test_forwarding_headers_from_an_untrusted_peer_are_ignored() -> None:
    request = scope("192.0.2.1", (b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-proto", b"https"))
    peer = TrustedProxies(["10.0.0.0/8"]).resolve(request)
    assert (peer.address, peer.scheme) == ("192.0.2.1", "http")


def test_a_trusted_proxy_yields_the_rightmost_address_it_does_not_trust() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "2001:db8::/32"])
    request = scope(
        "10.0.0.5",
        (b"x-forwarded-for", b"6.6.6.6, 203.0.113.7"),
        (b"x-forwarded-for", b"10.1.1.1"),
        (b"x-forwarded-proto", b"https"),
    )
    peer = proxies.resolve(request)
    assert (peer.address, peer.scheme) == ("203.0.113.7", "https")
    assert proxies.resolve(scope("2001:db8::1", (b"x-forwarded-for", b"198.51.100.1"))).address == (
        "198.51.100.1"
    )


def test_a_chain_of_only_trusted_proxies_yields_its_leftmost_hop() -> None:
    request = scope("10.0.0.5", (b"x-forwarded-for", b"10.0.0.9, 10.0.0.8"))
    assert TrustedProxies(["10.0.0.0/8"]).resolve(request).address == "10.0.0.9"


def test_an_unknown_forwarded_proto_is_ignored() -> None:
    request = scope("10.0.0.5", (b"x-forwarded-proto", b"gopher"))
    assert TrustedProxies(["10.0.0.5"]).resolve(request).scheme == "http"


def test_trusted_proxies_setting_takes_a_comma_separated_cidr_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ChassisSettings().trusted_proxies == []
    monkeypatch.setenv("EMPORIUM_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
    assert ChassisSettings().trusted_proxies == ["10.0.0.0/8", "192.0.2.7"]
    monkeypatch.setenv("EMPORIUM_TRUSTED_PROXIES", "not-a-network")
    with pytest.raises(ValueError, match="EMPORIUM_TRUSTED_PROXIES"):
        ChassisSettings()


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("abc-123_X.y", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("", False),
        ("a b", False),
        ("a\r\nset-cookie: x", False),
        ("é", False),
        (None, False),
    ],
)
def test_only_short_plain_request_ids_are_kept(value: str | None, kept: bool) -> None:
    assert acceptable_request_id(value) == (value if kept else None)


async def test_a_service_replaces_a_hostile_request_id_and_resolves_trusted_clients(
    tmp_path: Path,
) -> None:
    router = APIRouter()

    @router.get("/api/probe/who")
    async def who(request: Request) -> dict[str, str]:
        assert request.client is not None
        return {"client": request.client.host, "scheme": request.url.scheme}

    settings = ChassisSettings(var_dir=tmp_path, trusted_proxies=["10.0.0.1"])
    app = create_service("probe", settings=settings, routers=[router])
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


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


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
        "probe", settings=ChassisSettings(var_dir=tmp_path, trusted_proxies=["10.0.0.1"])
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
