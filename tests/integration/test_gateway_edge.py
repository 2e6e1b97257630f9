"""The gateway's edge: token checks, identity-header stripping, rate limits,
security headers and CORS, in front of a real upstream process."""

from __future__ import annotations

import base64
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emporium.chassis import ChassisSettings
from emporium.chassis.testing import TokenFactory
from emporium.services.gateway.main import create_app
from emporium.services.gateway.settings import GatewaySettings
from tests.integration._messaging_support import unreachable_broker
from tests.integration.test_gateway import Upstream, free_port, upstreams, wait_ready

__all__ = ["forged_tokens", "upstreams"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "emporium-identity",
        "aud": "emporium",
        "sub": str(uuid.uuid4()),
        "role": "customer",
        "iat": now,
        "exp": now + 300,
    }
    return {**claims, **overrides}


def forged_tokens(key: Ed25519PrivateKey, kid: str) -> dict[str, str]:
    """Every way a token must fail, made with (or without) the real signing key."""

    def sign(claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, **(headers or {})})

    good = sign(_claims())
    head, body, signature = good.split(".")
    tampered_body = _b64(json.dumps({**_claims(), "role": "admin"}).encode())
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    hs_body = _b64(json.dumps(_claims(role="admin")).encode())
    hs_signature = _b64(hmac.new(public_pem, f"{hs_head}.{hs_body}".encode(), "sha256").digest())
    none_head = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return {
        "expired": sign(_claims(iat=int(time.time()) - 600, exp=int(time.time()) - 60)),
        "tampered signature": f"{head}.{body}.{signature[:-4]}AAAA",
        "tampered claims": f"{head}.{tampered_body}.{signature}",
        "alg none": f"{none_head}.{hs_body}.",
        "HMAC with the public key": f"{hs_head}.{hs_body}.{hs_signature}",
        "wrong issuer": sign(_claims(iss="someone-else")),
        "wrong audience": sign(_claims(aud="another-system")),
        "unknown kid": sign(_claims(), {"kid": "no-such-key"}),
        "garbage": "not.a.jwt",
    }


@asynccontextmanager
async def edge(
    tmp_path: Path,
    upstream: Upstream,
    factory: TokenFactory | None = None,
    *,
    trusted_proxies: tuple[str, ...] = (),
    **overrides: Any,
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    default_upstreams = {"identity": [upstream.url], "catalog": [upstream.url]}
    settings = GatewaySettings(**{"upstreams": default_upstreams, **overrides})
    chassis = ChassisSettings(
        var_dir=tmp_path,
        log_level="WARNING",
        trusted_proxies=list(trusted_proxies),
        # Nobody answers there: no catalog answer is kept, 4222 is never reached.
        broker_url=unreachable_broker(),
    )
    verifier = (factory or TokenFactory()).verifier()
    app = create_app(settings, chassis, verifier=verifier)
    async with app.router.lifespan_context(app):
        clients: list[httpx.AsyncClient] = []

        def client(address: str = "127.0.0.1", scheme: str = "http") -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            made = httpx.AsyncClient(transport=transport, base_url=f"{scheme}://gateway")
            clients.append(made)
            return made

        try:
            yield client
        finally:
            for made in clients:
                await made.aclose()


@pytest.fixture
async def upstream(upstreams: Callable[[str, str], Upstream]) -> Upstream:
    started = upstreams("identity", "identity-1")
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, started)
    return started


def is_problem(response: httpx.Response, status: int) -> bool:
    return response.status_code == status and response.headers["content-type"].startswith(
        "application/problem+json"
    )


async def test_every_bad_token_is_401_at_the_edge_and_never_forwarded(
    tmp_path: Path, upstream: Upstream
) -> None:
    factory = TokenFactory()
    async with edge(tmp_path, upstream, factory) as client:
        gateway = client()
        missing = await gateway.get("/api/identity/me")
        assert is_problem(missing, 401)
        assert "bearer" in missing.headers["www-authenticate"].lower()
        for name, token in forged_tokens(factory.private_key, factory.kid).items():
            # An open route too: a bad token is refused wherever it is sent.
            for path in ("/api/identity/me", "/api/catalog/products"):
                response = await gateway.get(path, headers={"Authorization": f"Bearer {token}"})
                assert is_problem(response, 401), (name, path, response.text)
                assert "x-upstream" not in response.headers, name
        basic = await gateway.get("/api/catalog/x", headers={"Authorization": "Basic YTpi"})
        assert is_problem(basic, 401)


async def test_a_valid_token_passes_and_client_identity_headers_are_stripped(
    tmp_path: Path, upstream: Upstream
) -> None:
    factory = TokenFactory()
    async with edge(tmp_path, upstream, factory) as client:
        spoof = {"X-User-Id": "someone", "X-User-Role": "admin", "X-Emporium-Role": "admin"}
        response = await client().get("/api/identity/me", headers={**factory.headers(), **spoof})
        assert response.status_code == 200
        seen = response.json()["headers"]
        assert seen["authorization"].startswith("Bearer ")
        assert not {"x-user-id", "x-user-role", "x-emporium-role"} & set(seen)
        open_route = await client().get("/api/catalog/products")
        assert open_route.status_code == 200


async def test_password_guessing_is_throttled_per_address_and_email(
    tmp_path: Path, upstream: Upstream
) -> None:
    async with edge(tmp_path, upstream, login_burst=3, login_rate=0.01) as client:
        attacker, bystander = client("10.0.0.1"), client("10.0.0.2")
        guess = {"email": "victim@example.com", "password": "guess"}
        statuses = [
            (await attacker.post("/api/identity/token", json=guess)).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 200]
        throttled = await attacker.post("/api/identity/token", json=guess)
        assert is_problem(throttled, 429)
        assert int(throttled.headers["retry-after"]) >= 1
        other_email = {"email": "someone@example.com", "password": "pw"}
        assert (await attacker.post("/api/identity/token", json=other_email)).status_code == 200
        assert (await bystander.post("/api/identity/token", json=guess)).status_code == 200


async def test_the_per_address_limit_spares_other_addresses(
    tmp_path: Path, upstream: Upstream
) -> None:
    async with edge(tmp_path, upstream, address_burst=5, address_rate=0.01) as client:
        busy, quiet = client("10.0.1.1"), client("10.0.1.2")
        for _ in range(5):
            assert (await busy.get("/api/catalog/products")).status_code == 200
        assert is_problem(await busy.get("/api/catalog/products"), 429)
        assert (await busy.get("/health/live")).status_code == 200  # probes are never limited
        assert (await quiet.get("/api/catalog/products")).status_code == 200


async def test_security_headers_are_on_every_response_and_hsts_only_over_tls(
    tmp_path: Path, upstream: Upstream
) -> None:
    async with edge(tmp_path, upstream) as client:
        gateway = client()
        for path in ("/api/catalog/products", "/health/live", "/api/nothing-here/x"):
            response = await gateway.get(path)
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert "referrer-policy" in response.headers
            assert "default-src 'self'" in response.headers["content-security-policy"]
            assert "strict-transport-security" not in response.headers


async def test_cors_answers_only_configured_origins(tmp_path: Path, upstream: Upstream) -> None:
    allowed = "https://shop.example.test"
    async with edge(tmp_path, upstream, cors_origins=[allowed]) as client:
        gateway = client()
        preflight = {"Access-Control-Request-Method": "POST"}
        ok = await gateway.options(
            "/api/catalog/products", headers={"Origin": allowed, **preflight}
        )
        assert ok.status_code == 204
        assert ok.headers["access-control-allow-origin"] == allowed
        assert "authorization" in ok.headers["access-control-allow-headers"]
        refused = await gateway.options(
            "/api/catalog/products", headers={"Origin": "https://evil.test", **preflight}
        )
        assert is_problem(refused, 403)
        assert "access-control-allow-origin" not in refused.headers
        simple = await gateway.get("/api/catalog/products", headers={"Origin": allowed})
        assert simple.headers["access-control-allow-origin"] == allowed
        other = await gateway.get("/api/catalog/products", headers={"Origin": "https://evil.test"})
        assert other.status_code == 200
        assert "access-control-allow-origin" not in other.headers


async def test_two_gateways_share_one_redis_bucket(
    tmp_path: Path, upstream: Upstream, redis_url: str
) -> None:
    shared: dict[str, Any] = {
        "redis_url": redis_url,
        "redis_prefix": f"test:{uuid.uuid4().hex}:",
        "address_burst": 4,
        "address_rate": 0.01,
    }
    async with (
        edge(tmp_path / "a", upstream, **shared) as first,
        edge(tmp_path / "b", upstream, **shared) as second,
    ):
        one, two = first("10.0.2.1"), second("10.0.2.1")
        statuses = []
        for index in range(6):
            gateway = one if index % 2 == 0 else two
            statuses.append((await gateway.get("/api/catalog/products")).status_code)
        assert statuses == [200, 200, 200, 200, 429, 429]
        # Another address has its own bucket, on either gateway.
        assert (await second("10.0.2.2").get("/api/catalog/products")).status_code == 200


# -- forwarded-for trust, spraying, sign-up, admin routes, metrics, request ids ----


async def test_a_client_cannot_pick_its_address_with_x_forwarded_for(
    tmp_path: Path, upstream: Upstream
) -> None:
    async with edge(tmp_path, upstream, address_burst=2, address_rate=0.01) as client:
        local = client("127.0.0.1")  # loopback is not trusted unless configured
        statuses = [
            (
                await local.get("/api/catalog/x", headers={"X-Forwarded-For": f"198.51.100.{n}"})
            ).status_code
            for n in range(3)
        ]
        assert statuses == [200, 200, 429]


async def test_x_forwarded_for_from_a_trusted_proxy_names_the_rightmost_untrusted_address(
    tmp_path: Path, upstream: Upstream
) -> None:
    async with edge(
        tmp_path,
        upstream,
        trusted_proxies=("10.9.0.0/16",),
        address_burst=1,
        address_rate=0.01,
    ) as client:
        proxy = client("10.9.0.1")
        # A client-written first hop, the real client, then a second proxy of ours.
        chain = {"X-Forwarded-For": "1.2.3.4, 203.0.113.9, 10.9.0.2"}
        first = await proxy.get("/api/catalog/x", headers=chain)
        assert first.status_code == 200
        assert first.json()["headers"]["x-forwarded-for"] == "203.0.113.9"
        # Same real client, another invented first hop: the same bucket, now empty.
        chain = {"X-Forwarded-For": "5.6.7.8, 203.0.113.9, 10.9.0.2"}
        assert is_problem(await proxy.get("/api/catalog/x", headers=chain), 429)
        other = {"X-Forwarded-For": "203.0.113.10"}
        assert (await proxy.get("/api/catalog/x", headers=other)).status_code == 200


async def test_hsts_follows_x_forwarded_proto_only_from_a_trusted_proxy(
    tmp_path: Path, upstream: Upstream
) -> None:
    https = {"X-Forwarded-Proto": "https"}
    async with edge(tmp_path, upstream, trusted_proxies=("10.9.0.1",)) as client:
        untrusted = await client("192.0.2.1").get("/api/catalog/x", headers=https)
        assert "strict-transport-security" not in untrusted.headers
        assert untrusted.json()["headers"]["x-forwarded-proto"] == "http"
        trusted = await client("10.9.0.1").get("/api/catalog/x", headers=https)
        assert "strict-transport-security" in trusted.headers
        assert trusted.json()["headers"]["x-forwarded-proto"] == "https"
        direct_tls = await client("192.0.2.1", scheme="https").get("/api/catalog/x")
        assert "strict-transport-security" in direct_tls.headers


async def test_spraying_one_password_over_thirty_emails_from_one_address_is_throttled(
    tmp_path: Path, upstream: Upstream
) -> None:
    async with edge(tmp_path, upstream) as client:  # the default budgets
        sprayer, bystander = client("10.0.2.1"), client("10.0.2.2")
        statuses = [
            (
                await sprayer.post(
                    "/api/identity/token",
                    json={"email": f"user{n}@example.com", "password": "Summer2026!"},
                )
            ).status_code
            for n in range(30)
        ]
        assert 429 in statuses
        assert statuses.count(200) <= GatewaySettings().login_address_burst + 1
        login = {"email": "someone@example.com", "password": "pw"}
        assert (await bystander.post("/api/identity/token", json=login)).status_code == 200


async def test_sign_ups_from_one_address_have_a_budget_of_their_own(
    tmp_path: Path, upstream: Upstream
) -> None:
    async with edge(tmp_path, upstream, signup_burst=3, signup_rate=0.01) as client:
        signer = client("10.0.3.1")
        body = {"email": "a@example.com", "password": "long-enough", "name": "A"}
        statuses = [
            (await signer.post("/api/identity/users", json=body)).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        # Logins from that address are not spent by sign-ups.
        login = {"email": "a@example.com", "password": "long-enough"}
        assert (await signer.post("/api/identity/token", json=login)).status_code == 200


async def test_the_gateways_upstream_view_is_for_administrators_only(
    tmp_path: Path, upstream: Upstream
) -> None:
    factory = TokenFactory()
    async with edge(tmp_path, upstream, factory) as client:
        gateway = client()
        anonymous = await gateway.get("/api/gateway/upstreams")
        assert is_problem(anonymous, 401)
        customer = await gateway.get("/api/gateway/upstreams", headers=factory.headers())
        assert is_problem(customer, 403)
        admin = await gateway.get("/api/gateway/upstreams", headers=factory.headers(role="admin"))
        assert admin.status_code == 200
        assert {i["service"] for i in admin.json()["instances"]} == {"identity", "catalog"}


async def test_metrics_are_not_on_the_public_port_but_on_the_metrics_listener(
    tmp_path: Path, upstream: Upstream
) -> None:
    port = free_port()
    async with edge(tmp_path, upstream, metrics_port=port, metrics_host="127.0.0.1") as client:
        public = await client().get("/metrics")
        assert is_problem(public, 404)
        assert "emporium_" not in public.text
        assert "x-upstream" not in public.headers  # not proxied to the storefront either
        async with httpx.AsyncClient() as scraper:
            scraped = await scraper.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200
        assert "emporium_gateway_instance_healthy" in scraped.text


async def test_an_oversized_or_odd_request_id_is_replaced_not_echoed(
    tmp_path: Path, upstream: Upstream
) -> None:
    async with edge(tmp_path, upstream) as client:
        gateway = client()
        for hostile in ("x" * 20_000, "a b", "<script>", "x" * 129):
            response = await gateway.get("/api/catalog/x", headers={"X-Request-ID": hostile})
            assert response.status_code == 200, hostile[:20]
            rid = response.headers["x-request-id"]
            assert rid != hostile
            assert len(rid) <= 128
            assert response.json()["headers"]["x-request-id"] == rid
        kept = await gateway.get("/api/catalog/x", headers={"X-Request-ID": "abc.DEF_1-2"})
        assert kept.headers["x-request-id"] == "abc.DEF_1-2"


async def test_one_user_inventing_idempotency_keys_has_a_checkout_budget(
    tmp_path: Path, upstream: Upstream
) -> None:
    factory = TokenFactory()
    async with edge(
        tmp_path,
        upstream,
        factory,
        checkout_burst=2,
        checkout_rate=0.01,
        upstreams={"identity": [upstream.url], "orders": [upstream.url]},
    ) as client:
        gateway = client()
        buyer, other = factory.headers(), factory.headers()
        statuses = [
            (
                await gateway.post(
                    "/api/orders", json={}, headers={**buyer, "Idempotency-Key": str(uuid.uuid4())}
                )
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        assert (await gateway.get("/api/orders", headers=buyer)).status_code == 200
        again = await gateway.post(
            "/api/orders", json={}, headers={**other, "Idempotency-Key": "k"}
        )
        assert again.status_code == 200
