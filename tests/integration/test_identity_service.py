"""identity through its own HTTP API, on its real store (SQLite)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from emporium.chassis import ChassisSettings
from emporium.services.identity.main import create_app
from emporium.services.identity.settings import ADMIN_EMAIL, IdentitySettings
from tests._poll import eventually_async
from tests.integration._services import running

ADMIN_PASSWORD = "integration-admin-pw"


def fast_settings(**overrides: Any) -> IdentitySettings:
    # Cheap argon2 keeps the suite fast; production parameters are measured in bench/.
    values: dict[str, Any] = {
        "argon2_time_cost": 1,
        "argon2_memory_kib": 64,
        "admin_password": ADMIN_PASSWORD,
    }
    return IdentitySettings(**{**values, **overrides})


@pytest.fixture
async def identity(var_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with running(
        lambda chassis: create_app(chassis, fast_settings(key_overlap_seconds=1.0)),
        ChassisSettings(var_dir=var_dir),
    ) as client:
        yield client


def email() -> str:
    return f"u{uuid.uuid4().hex[:12]}@example.com"


async def register(client: httpx.AsyncClient, address: str, **extra: Any) -> httpx.Response:
    body = {"email": address, "password": "correct horse", "name": "Ada", **extra}
    return await client.post("/api/identity/users", json=body)


async def login(client: httpx.AsyncClient, address: str, password: str) -> dict[str, Any]:
    response = await client.post(
        "/api/identity/token", json={"email": address, "password": password}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_register_login_me_round_trip(identity: httpx.AsyncClient) -> None:
    address = email()
    created = await register(identity, address)
    assert created.status_code == 201
    user = created.json()
    assert set(user) == {"id", "email", "name", "role"}
    assert user["role"] == "customer"
    tokens = await login(identity, address.upper(), "correct horse")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    me = await identity.get("/api/identity/me", headers=bearer(tokens))
    assert me.status_code == 200
    assert me.json() == user


async def test_registration_body_cannot_choose_role_or_id(identity: httpx.AsyncClient) -> None:
    forced_id = str(uuid.uuid4())
    created = await register(identity, email(), role="admin", id=forced_id, is_admin=True)
    assert created.status_code == 201
    assert created.json()["role"] == "customer"
    assert created.json()["id"] != forced_id


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "long enough", "name": "A"},
        {"email": "a@example.com", "password": "short", "name": "A"},
        {"email": "a@example.com", "password": "long enough", "name": ""},
        {"email": "a@example.com", "password": "long enough"},
    ],
)
async def test_invalid_registration_is_422_problem(
    identity: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await identity.post("/api/identity/users", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_duplicate_email_is_409_problem_whatever_the_case(
    identity: httpx.AsyncClient,
) -> None:
    address = email()
    assert (await register(identity, address)).status_code == 201
    again = await register(identity, address.upper())
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_unknown_email_and_wrong_password_get_the_same_401(
    identity: httpx.AsyncClient,
) -> None:
    address = email()
    await register(identity, address)
    wrong = await identity.post(
        "/api/identity/token", json={"email": address, "password": "not the password"}
    )
    unknown = await identity.post(
        "/api/identity/token", json={"email": email(), "password": "not the password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["content-type"].startswith("application/problem+json")


async def test_refresh_rotates_and_reuse_revokes_the_family(identity: httpx.AsyncClient) -> None:
    address = email()
    await register(identity, address)
    first = await login(identity, address, "correct horse")
    second = (
        await identity.post(
            "/api/identity/token/refresh", json={"refresh_token": first["refresh_token"]}
        )
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await identity.get("/api/identity/me", headers=bearer(second))).status_code == 200
    reused = await identity.post(
        "/api/identity/token/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 401
    # The whole family is gone: the newest token of it no longer works either.
    latest = await identity.post(
        "/api/identity/token/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert latest.status_code == 401
    # Another sign-in of the same user is another family, untouched.
    other = await login(identity, address, "correct horse")
    ok = await identity.post(
        "/api/identity/token/refresh", json={"refresh_token": other["refresh_token"]}
    )
    assert ok.status_code == 200


async def test_concurrent_use_of_one_refresh_token_succeeds_at_most_once(
    identity: httpx.AsyncClient,
) -> None:
    address = email()
    await register(identity, address)
    tokens = await login(identity, address, "correct horse")
    body = {"refresh_token": tokens["refresh_token"]}
    answers = await asyncio.gather(
        *(identity.post("/api/identity/token/refresh", json=body) for _ in range(4))
    )
    assert sum(a.status_code == 200 for a in answers) <= 1
    assert all(a.status_code in (200, 401) for a in answers)


async def test_logout_revokes_the_refresh_token(identity: httpx.AsyncClient) -> None:
    address = email()
    await register(identity, address)
    tokens = await login(identity, address, "correct horse")
    body = {"refresh_token": tokens["refresh_token"]}
    assert (await identity.post("/api/identity/logout", json=body)).status_code == 204
    assert (await identity.post("/api/identity/token/refresh", json=body)).status_code == 401
    assert (await identity.post("/api/identity/logout", json=body)).status_code == 204


async def test_seeded_admin_may_list_users_and_a_customer_may_not(
    identity: httpx.AsyncClient,
) -> None:
    admin = await login(identity, ADMIN_EMAIL, ADMIN_PASSWORD)
    listed = await identity.get("/api/identity/users", headers=bearer(admin))
    assert listed.status_code == 200
    assert any(u["email"] == ADMIN_EMAIL and u["role"] == "admin" for u in listed.json()["items"])
    address = email()
    await register(identity, address)
    customer = await login(identity, address, "correct horse")
    for method, path in (("GET", "/api/identity/users"), ("POST", "/api/identity/keys/rotate")):
        response = await identity.request(method, path, headers=bearer(customer))
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await identity.get("/api/identity/users")).status_code == 401


async def test_jwks_publishes_public_keys_only(identity: httpx.AsyncClient) -> None:
    keys = (await identity.get("/.well-known/jwks.json")).json()["keys"]
    assert keys
    assert all(k["alg"] == "EdDSA" and k["use"] == "sig" and k["kid"] for k in keys)
    assert all("d" not in k for k in keys)


async def test_tokens_of_the_old_key_work_during_the_overlap_then_stop(
    identity: httpx.AsyncClient,
) -> None:
    admin = await login(identity, ADMIN_EMAIL, ADMIN_PASSWORD)
    old_kid = jwt.get_unverified_header(admin["access_token"])["kid"]
    rotated = await identity.post("/api/identity/keys/rotate", headers=bearer(admin))
    assert rotated.status_code == 200
    assert rotated.json()["kid"] != old_kid
    kids = [k["kid"] for k in (await identity.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids[:2] == [rotated.json()["kid"], old_kid]
    assert (await identity.get("/api/identity/me", headers=bearer(admin))).status_code == 200
    fresh = await login(identity, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] == rotated.json()["kid"]

    async def me_with_the_old_key() -> int:
        return (await identity.get("/api/identity/me", headers=bearer(admin))).status_code

    await eventually_async(
        me_with_the_old_key,
        lambda status: status != 200,
        timeout=10,
        interval=0.2,
        message="the old key kept verifying after the overlap",
    )
    assert old_kid not in str((await identity.get("/.well-known/jwks.json")).json())
    assert (await identity.get("/api/identity/me", headers=bearer(fresh))).status_code == 200
