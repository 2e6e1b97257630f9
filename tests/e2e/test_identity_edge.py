"""Identity and the edge, end to end: the real launcher, every request through the gateway."""

from __future__ import annotations

import ssl
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from emporium.services.identity.keys import kid_for
from tests._poll import eventually
from tests._system import System, running_system
from tests.integration.test_gateway_edge import forged_tokens

pytestmark = pytest.mark.e2e

ADMIN = "admin@emporium.local"
ADMIN_PASSWORD = f"e2e-admin-{uuid.uuid4().hex[:8]}"
PASSWORD = f"pw-{uuid.uuid4().hex}"
SIGNING_KEY = Ed25519PrivateKey.generate()
SEEN_SECRETS: list[str] = [ADMIN_PASSWORD, PASSWORD]
SYSTEM_ENV = {
    "EMPORIUM_ADMIN_PASSWORD": ADMIN_PASSWORD,
    # A key the test knows, so it can forge tokens that differ in one claim only.
    "EMPORIUM_IDENTITY_SIGNING_KEY": SIGNING_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode(),
    "EMPORIUM_IDENTITY_KEY_OVERLAP_SECONDS": "3",
    "EMPORIUM_AUTH_JWKS_TTL_SECONDS": "1",
    "EMPORIUM_AUTH_JWKS_MIN_REFRESH_SECONDS": "0.5",
    # Per address and email. The admin signs in from this address four times in
    # this module (recommendations' backfill once, three tests), so five.
    "EMPORIUM_GATEWAY_LOGIN_BURST": "5",
    "EMPORIUM_LOG_LEVEL": "INFO",
}


def register(client: httpx.Client, **extra: Any) -> tuple[str, dict[str, Any]]:
    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
    body = {"email": email, "password": PASSWORD, "name": "Grace", **extra}
    response = client.post("/api/identity/users", json=body)
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return email, user


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/identity/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    SEEN_SECRETS.extend([tokens["access_token"], tokens["refresh_token"]])
    return tokens


def bearer(tokens: dict[str, Any] | str) -> dict[str, str]:
    token = tokens if isinstance(tokens, str) else tokens["access_token"]
    return {"Authorization": f"Bearer {token}"}


def is_problem(response: httpx.Response, status: int) -> bool:
    content_type = response.headers.get("content-type", "")
    return response.status_code == status and content_type.startswith("application/problem+json")


def test_identity_starts_first_and_the_admin_line_is_true(system: System) -> None:
    assert system.instances("identity")[0]["health"] == "ready"
    with system.client() as client:
        admin = login(client, ADMIN, ADMIN_PASSWORD)
        me = client.get("/api/identity/me", headers=bearer(admin)).json()
    assert me["email"] == ADMIN
    assert me["role"] == "admin"


def test_register_token_me_refresh_reuse_and_logout(client: httpx.Client) -> None:
    email, user = register(client)
    tokens = login(client, email)
    assert tokens["token_type"] == "bearer"
    assert client.get("/api/identity/me", headers=bearer(tokens)).json() == user
    rotated = client.post(
        "/api/identity/token/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert rotated.status_code == 200
    fresh = rotated.json()
    SEEN_SECRETS.extend([fresh["access_token"], fresh["refresh_token"]])
    assert fresh["refresh_token"] != tokens["refresh_token"]
    reused = client.post(
        "/api/identity/token/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert is_problem(reused, 401)
    family_gone = client.post(
        "/api/identity/token/refresh", json={"refresh_token": fresh["refresh_token"]}
    )
    assert is_problem(family_gone, 401)
    again = login(client, email)
    logout = client.post("/api/identity/logout", json={"refresh_token": again["refresh_token"]})
    assert logout.status_code == 204
    after = client.post(
        "/api/identity/token/refresh", json={"refresh_token": again["refresh_token"]}
    )
    assert is_problem(after, 401)


def test_bad_tokens_are_401_at_the_gateway_and_directly_at_identity(
    system: System, client: httpx.Client
) -> None:
    kid = kid_for(SIGNING_KEY)
    good = jwt.encode(
        {
            "iss": "emporium-identity",
            "aud": "emporium",
            "sub": register(client)[1]["id"],
            "role": "customer",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        },
        SIGNING_KEY,
        algorithm="EdDSA",
        headers={"kid": kid},
    )
    direct_url = system.instances("identity")[0]["url"]
    with httpx.Client(base_url=direct_url, timeout=10) as direct:
        for where in (client, direct):
            assert where.get("/api/identity/me", headers=bearer(good)).status_code == 200
            assert is_problem(where.get("/api/identity/me"), 401)
            for name, token in forged_tokens(SIGNING_KEY, kid).items():
                response = where.get("/api/identity/me", headers=bearer(token))
                assert is_problem(response, 401), (name, str(where.base_url), response.text)


def test_no_body_makes_an_admin_and_customers_get_403(client: httpx.Client) -> None:
    email, user = register(client, role="admin", id=str(uuid.uuid4()))
    assert user["role"] == "customer"
    customer = login(client, email)
    assert customer_claims(customer)["role"] == "customer"
    for method, path in (("GET", "/api/identity/users"), ("POST", "/api/identity/keys/rotate")):
        assert is_problem(client.request(method, path, headers=bearer(customer)), 403)
    admin = login(client, ADMIN, ADMIN_PASSWORD)
    listed = client.get("/api/identity/users", headers=bearer(admin))
    assert listed.status_code == 200
    assert email in {u["email"] for u in listed.json()["items"]}


def customer_claims(tokens: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return claims


def test_password_guessing_gets_429_and_other_clients_do_not(client: httpx.Client) -> None:
    victim, _ = register(client)
    bystander, _ = register(client)
    guess = {"email": victim, "password": "wrong-guess"}
    statuses = [client.post("/api/identity/token", json=guess).status_code for _ in range(5)]
    assert statuses == [401] * 5
    throttled = client.post("/api/identity/token", json=guess)
    assert is_problem(throttled, 429)
    assert int(throttled.headers["retry-after"]) >= 1
    # Even the right password waits now: the bucket is the address and email's.
    assert (
        client.post("/api/identity/token", json={**guess, "password": PASSWORD}).status_code == 429
    )
    login(client, bystander)


def test_security_headers_are_on_gateway_responses(client: httpx.Client) -> None:
    for path in ("/api/catalog/products", "/.well-known/jwks.json", "/api/nope/x"):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "content-security-policy" in response.headers
    jwks = client.get("/.well-known/jwks.json").json()["keys"]
    assert all({"kid", "alg", "use"} <= set(k) and "d" not in k for k in jwks)


def test_old_key_tokens_work_during_the_overlap_then_stop(client: httpx.Client) -> None:
    admin = login(client, ADMIN, ADMIN_PASSWORD)
    _, user = register(client)
    rotated = client.post("/api/identity/keys/rotate", headers=bearer(admin))
    assert rotated.status_code == 200
    old = jwt.encode(
        {
            "iss": "emporium-identity",
            "aud": "emporium",
            "sub": user["id"],
            "role": "customer",
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
        },
        SIGNING_KEY,
        algorithm="EdDSA",
        headers={"kid": kid_for(SIGNING_KEY)},
    )
    assert client.get("/api/identity/me", headers=bearer(old)).status_code == 200
    eventually(
        lambda: client.get("/api/identity/me", headers=bearer(old)).status_code,
        lambda status: status == 401,
        timeout=15,
        interval=0.3,
        message="the old key kept verifying after the overlap",
    )
    # A refresh (not another login: the admin's login bucket is small here) signs anew.
    refreshed = client.post(
        "/api/identity/token/refresh", json={"refresh_token": admin["refresh_token"]}
    )
    new_admin = refreshed.json()
    SEEN_SECRETS.extend([new_admin["access_token"], new_admin["refresh_token"]])
    assert jwt.get_unverified_header(new_admin["access_token"])["kid"] == rotated.json()["kid"]
    assert client.get("/api/identity/me", headers=bearer(new_admin)).status_code == 200


def test_passwords_and_tokens_never_reach_the_logs(system: System) -> None:
    logs = "\n".join(
        path.read_text(errors="replace") for path in sorted((system.var_dir / "log").glob("*.log"))
    )
    assert "identity" in logs  # the logs were written at all
    leaked = [secret[:12] for secret in SEEN_SECRETS if secret in logs]
    assert leaked == []


def test_tls_serves_https_with_the_generated_ca() -> None:
    with running_system(extra_env={"EMPORIUM_TLS": "true"}) as system:
        ca = system.var_dir / "tls" / "ca.pem"
        context = ssl.create_default_context(cafile=str(ca))
        url = f"https://127.0.0.1:{system.gateway_port}"
        with httpx.Client(base_url=url, verify=context, timeout=10) as client:
            response = client.get("/.well-known/jwks.json")
            assert response.status_code == 200
            assert "max-age" in response.headers["strict-transport-security"]
            email, _ = register(client)
            assert (
                client.get("/api/identity/me", headers=bearer(login(client, email))).status_code
                == 200
            )
        with pytest.raises(httpx.ConnectError), httpx.Client(base_url=url, timeout=5) as untrusted:
            untrusted.get("/health/live")
        assert all(i["health"] == "ready" for i in system.status())
