"""Services verify bearer tokens themselves: signature by kid, exp, iss, aud, algorithm."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter

from emporium.chassis import ChassisSettings, create_service
from emporium.chassis.auth import AdminUser, AuthSettings, CurrentUser, OptionalUser, TokenVerifier
from emporium.chassis.testing import FlakyJwks, TokenFactory

router = APIRouter()


@router.get("/api/demo/me")
async def me(user: CurrentUser) -> dict[str, str]:
    return {"id": str(user.user_id), "role": user.role}


@router.get("/api/demo/admin")
async def admin_only(user: AdminUser) -> dict[str, str]:
    return {"id": str(user.user_id)}


@router.get("/api/demo/public")
async def public(user: OptionalUser) -> dict[str, bool]:
    return {"signed_in": user is not None}


@pytest.fixture
def tokens() -> TokenFactory:
    return TokenFactory()


@pytest.fixture
async def client(tokens: TokenFactory) -> AsyncIterator[httpx.AsyncClient]:
    app = create_service(
        "demo", routers=[router], chassis=ChassisSettings(), auth=tokens.verifier()
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as c:
            yield c


def _b64(data: Mapping[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _status(client: httpx.AsyncClient, token: str, path: str = "/api/demo/me") -> int:
    response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 401:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
    return response.status_code


async def test_valid_token_identifies_the_user(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    user = uuid.uuid4()
    response = await client.get("/api/demo/me", headers=tokens.headers(user))
    assert response.json() == {"id": str(user), "role": "customer"}


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/demo/me")).status_code == 401
    assert (await client.get("/api/demo/public")).json() == {"signed_in": False}


async def test_expired_token_is_401(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    assert await _status(client, tokens.token(expires_in=-60)) == 401


async def test_tampered_signature_is_401(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    header, payload, signature = tokens.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    assert await _status(client, f"{header}.{_b64(claims)}.{signature}", "/api/demo/admin") == 401


async def test_alg_none_is_401(client: httpx.AsyncClient, tokens: TokenFactory) -> None:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "role": "admin", "iss": "emporium-identity",
              "aud": "emporium", "iat": now, "exp": now + 60}  # fmt: skip
    token = f"{_b64({'alg': 'none', 'kid': tokens.kid})}.{_b64(claims)}."
    assert await _status(client, token) == 401


async def test_hmac_signed_with_the_public_key_is_401(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    public_jwk = json.dumps(tokens.jwks()["keys"][0]).encode()
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "role": "admin", "iss": "emporium-identity",
              "aud": "emporium", "iat": now, "exp": now + 60}  # fmt: skip
    header = {"alg": "HS256", "kid": tokens.kid, "typ": "JWT"}
    signing_input = f"{_b64(header)}.{_b64(claims)}".encode()
    signature = base64.urlsafe_b64encode(
        hmac.new(public_jwk, signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    assert await _status(client, f"{signing_input.decode()}.{signature.decode()}") == 401


@pytest.mark.parametrize("claim", [{"iss": "someone-else"}, {"aud": "another-app"}])
async def test_wrong_issuer_or_audience_is_401(
    client: httpx.AsyncClient, tokens: TokenFactory, claim: dict[str, str]
) -> None:
    assert await _status(client, tokens.token(claims=claim)) == 401


async def test_unknown_kid_is_401(client: httpx.AsyncClient) -> None:
    stranger = TokenFactory()  # a different key the service has never seen
    assert await _status(client, stranger.token()) == 401


async def test_token_signed_by_another_key_with_our_kid_is_401(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    forged = jwt.encode(
        {"sub": str(uuid.uuid4()), "role": "admin", "iss": "emporium-identity",
         "aud": "emporium", "iat": int(time.time()), "exp": int(time.time()) + 60},
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": tokens.kid},
    )  # fmt: skip
    assert await _status(client, forged) == 401


async def test_customer_is_403_on_admin_routes_and_admin_passes(
    client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    customer = await client.get("/api/demo/admin", headers=tokens.headers())
    assert customer.status_code == 403
    admin = await client.get("/api/demo/admin", headers=tokens.headers(role="admin"))
    assert admin.status_code == 200


async def test_malformed_authorization_header_is_401(client: httpx.AsyncClient) -> None:
    for value in ("Basic abc", "Bearer", "Bearer not.a.jwt"):
        response = await client.get("/api/demo/me", headers={"Authorization": value})
        assert response.status_code == 401


async def test_a_token_whose_key_cannot_be_fetched_now_is_503_to_retry_not_401(
    tokens: TokenFactory,
) -> None:
    # A service restarted while identity is down holds no key yet: it cannot
    # tell a good token from a forged one, and must not tell the client to
    # throw a good one away.
    identity = FlakyJwks(tokens)
    identity.up = False
    quick = AuthSettings(jwks_min_refresh_seconds=0.05)
    verifier = TokenVerifier(quick, "memory://jwks", fetch=identity.fetch)
    app = create_service("demo", routers=[router], chassis=ChassisSettings(), auth=verifier)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            token = {"Authorization": f"Bearer {tokens.token()}"}
            response = await client.get("/api/demo/me", headers=token)
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
            assert response.headers["content-type"] == "application/problem+json"
            assert verifier.jwks.document is None
            identity.up = True
            await asyncio.sleep(0.06)  # past the refetch bound
            assert (await client.get("/api/demo/me", headers=token)).status_code == 200
            assert verifier.jwks.document is not None
            # Once fetched, keys outlive identity going down again.
            identity.up = False
            assert (await client.get("/api/demo/me", headers=token)).status_code == 200
