"""The gateway serves identity's keys, and the last ones it trusted while identity is down."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from emporium.chassis.auth import AuthSettings, TokenVerifier
from emporium.chassis.testing import FlakyJwks, TokenFactory
from emporium.services.gateway.edge import jwks_endpoint


def gateway(identity: FlakyJwks, verifier: TokenVerifier) -> httpx.AsyncClient:
    app = Starlette(
        routes=[Route("/.well-known/jwks.json", jwks_endpoint(identity.fetch, verifier))]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def test_a_service_restarted_while_identity_is_down_still_gets_the_keys() -> None:
    tokens = TokenFactory()
    identity = FlakyJwks(tokens)
    verifier = TokenVerifier(AuthSettings(), "memory://jwks", fetch=identity.fetch)
    async with gateway(identity, verifier) as client:
        fresh = await client.get("/.well-known/jwks.json")
        assert fresh.status_code == 200
        assert [k["kid"] for k in fresh.json()["keys"]] == [tokens.kid]
        # The gateway verified a token once, so it holds the keys...
        await verifier.verify(tokens.token())
        identity.up = False
        # ...and hands them out while identity cannot.
        stale = await client.get("/.well-known/jwks.json")
        assert stale.status_code == 200
        assert stale.json() == verifier.jwks.document
        assert [k["kid"] for k in stale.json()["keys"]] == [tokens.kid]


async def test_with_identity_down_and_no_keys_seen_the_keys_are_a_503_to_retry() -> None:
    identity = FlakyJwks(TokenFactory())
    identity.up = False
    verifier = TokenVerifier(AuthSettings(), "memory://jwks", fetch=identity.fetch)
    async with gateway(identity, verifier) as client:
        response = await client.get("/.well-known/jwks.json")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
