"""identity's defences that hold without the gateway: sealed keys that stay
retired, per-account backoff, bounded hashing, bounded fields."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import argon2
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emporium.chassis import ChassisSettings, Database
from emporium.chassis.settings import ConfigurationError
from emporium.services.identity.keys import KeyRing, kid_for
from emporium.services.identity.main import create_app
from emporium.services.identity.sealing import KeySealer
from emporium.services.identity.settings import ADMIN_EMAIL
from tests.integration._services import running
from tests.integration.test_identity_service import ADMIN_PASSWORD, fast_settings, login

PASSWORD = "correct horse"


def pem_of(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@asynccontextmanager
async def identity(var_dir: Path, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = fast_settings(**overrides)
    async with running(
        lambda chassis: create_app(chassis, settings), ChassisSettings(var_dir=var_dir)
    ) as client:
        yield client


def stored_keys(var_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(var_dir / "data" / "identity.db") as db:
        return list(db.execute("SELECT kid, private_pem FROM signing_keys ORDER BY generation"))


def signing_kid(tokens: dict[str, Any]) -> str:
    kid: str = jwt.get_unverified_header(tokens["access_token"])["kid"]
    return kid


async def register(client: httpx.AsyncClient, **extra: Any) -> str:
    email = f"u{uuid.uuid4().hex[:12]}@example.com"
    body = {"email": email, "password": PASSWORD, "name": "Ada", **extra}
    response = await client.post("/api/identity/users", json=body)
    assert response.status_code == 201, response.text
    return email


async def test_a_key_rotated_away_never_becomes_active_again_when_identity_restarts(
    var_dir: Path,
) -> None:
    configured = Ed25519PrivateKey.generate()
    old_kid = kid_for(configured)
    config = {"signing_key": pem_of(configured), "key_overlap_seconds": 0}
    async with identity(var_dir, **config) as client:
        admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert signing_kid(admin) == old_kid
        rotated = await client.post(
            "/api/identity/keys/rotate",
            headers={"Authorization": f"Bearer {admin['access_token']}"},
        )
        assert rotated.status_code == 200
        new_kid = rotated.json()["kid"]
    # Restarted with the same (old) configured key, as a deployment would be.
    async with identity(var_dir, **config) as client:
        admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert signing_kid(admin) == new_kid
        published = {
            key["kid"] for key in (await client.get("/.well-known/jwks.json")).json()["keys"]
        }
        assert published == {new_kid}
    # The retired key is remembered by kid only: its private half is gone.
    assert dict(stored_keys(var_dir))[old_kid] == ""


async def test_private_signing_keys_are_sealed_in_the_store(var_dir: Path) -> None:
    configured = Ed25519PrivateKey.generate()
    async with identity(var_dir, signing_key=pem_of(configured)) as client:
        admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        await client.post(
            "/api/identity/keys/rotate",
            headers={"Authorization": f"Bearer {admin['access_token']}"},
        )
    rows = stored_keys(var_dir)
    assert len(rows) == 2
    body = pem_of(configured).splitlines()[1]
    for _kid, stored in rows:
        assert stored.startswith("aesgcm1:")
        assert "PRIVATE KEY" not in stored
        assert body not in stored


async def test_a_store_sealed_under_another_key_encryption_key_refuses_to_start(
    var_dir: Path,
) -> None:
    async with identity(var_dir):
        pass
    database = Database(f"sqlite+aiosqlite:///{var_dir / 'data' / 'identity.db'}")
    keys = KeyRing(database, overlap_seconds=60, sealer=KeySealer(secrets.token_bytes(32)))
    try:
        with pytest.raises(ConfigurationError, match="EMPORIUM_IDENTITY_KEY_ENCRYPTION_KEY"):
            await keys.ensure()
    finally:
        await database.dispose()


async def test_keys_stored_in_plain_by_an_older_version_are_sealed_at_start(
    var_dir: Path,
) -> None:
    key = Ed25519PrivateKey.generate()
    async with identity(var_dir, signing_key=pem_of(key)):
        pass
    with sqlite3.connect(var_dir / "data" / "identity.db") as db:
        db.execute("UPDATE signing_keys SET private_pem = ?", (pem_of(key),))
    async with identity(var_dir) as client:
        admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert signing_kid(admin) == kid_for(key)
    assert [stored[:8] for _kid, stored in stored_keys(var_dir)] == ["aesgcm1:"]


async def test_failed_logins_back_off_per_account_known_and_unknown_alike(var_dir: Path) -> None:
    async with identity(var_dir, login_free_failures=2, login_lock_base_seconds=30) as client:
        known = await register(client)
        unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
        for email in (known, unknown):
            wrong = {"email": email, "password": "wrong password"}
            statuses = [
                (await client.post("/api/identity/token", json=wrong)).status_code for _ in range(3)
            ]
            assert statuses == [401, 401, 429], email
        locked = await client.post(
            "/api/identity/token", json={"email": known, "password": PASSWORD}
        )
        assert locked.status_code == 429
        assert locked.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(locked.headers["retry-after"]) <= 30
        other = await register(client)
        assert (await login(client, other, PASSWORD))["access_token"]


async def test_a_successful_login_forgets_earlier_failures(var_dir: Path) -> None:
    async with identity(var_dir, login_free_failures=2, login_lock_base_seconds=30) as client:
        email = await register(client)
        wrong = {"email": email, "password": "wrong password"}
        assert (await client.post("/api/identity/token", json=wrong)).status_code == 401
        await login(client, email, PASSWORD)
        assert (await client.post("/api/identity/token", json=wrong)).status_code == 401
        await login(client, email, PASSWORD)


async def test_an_unknown_email_costs_one_argon2_verify_with_real_parameters(
    var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    real_verify = argon2.PasswordHasher.verify

    def counting(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        verified.append(hash if isinstance(hash, str) else hash.decode())
        return real_verify(self, hash, password)

    # argon2-cffi is a third-party seam: count its calls, run them for real.
    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting)
    async with identity(var_dir) as client:
        email = await register(client)
        assert (
            await client.post("/api/identity/token", json={"email": email, "password": "nope-nope"})
        ).status_code == 401
        unknown = {"email": f"x{uuid.uuid4().hex[:8]}@example.com", "password": "nope-nope"}
        assert (await client.post("/api/identity/token", json=unknown)).status_code == 401
    assert len(verified) == 2
    real, dummy = (argon2.extract_parameters(h) for h in verified)
    assert dummy == real
    assert verified[0] != verified[1]


async def test_a_burst_of_hashing_beyond_the_queue_gets_503_with_retry_after(
    var_dir: Path,
) -> None:
    async with identity(
        var_dir,
        argon2_time_cost=3,
        argon2_memory_kib=8 * 1024,
        argon2_max_concurrent=1,
        argon2_max_waiting=2,
    ) as client:
        bodies = [
            {"email": f"b{n}-{uuid.uuid4().hex[:6]}@example.com", "password": PASSWORD, "name": "B"}
            for n in range(12)
        ]
        responses = await asyncio.gather(
            *(client.post("/api/identity/users", json=body) for body in bodies)
        )
    statuses = [r.status_code for r in responses]
    assert set(statuses) == {201, 503}, statuses
    assert statuses.count(201) >= 3  # one hashing and two waiting all finish
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == "1"
    assert busy.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com", "password": "p" * 129, "name": "A"},
        {"email": f"{'a' * 64}@{'b' * 190}.com", "password": PASSWORD, "name": "A"},
        {"email": "a@example.com", "password": PASSWORD, "name": "N" * 201},
        {"email": "a@example.com", "password": PASSWORD, "name": "line\nbreak"},
    ],
)
async def test_registration_fields_are_bounded(var_dir: Path, body: dict[str, str]) -> None:
    async with identity(var_dir) as client:
        response = await client.post("/api/identity/users", json=body)
    assert response.status_code == 422, response.text


async def test_a_login_with_an_oversized_password_is_refused_before_hashing(var_dir: Path) -> None:
    async with identity(var_dir) as client:
        response = await client.post(
            "/api/identity/token", json={"email": "a@example.com", "password": "p" * 10_000}
        )
    assert response.status_code == 422
