"""One running Emporium for the OWASP API Security Top 10 (2023) suite.

Everything goes through the gateway of a system started by the real launcher,
with the production defaults for rate limits (unlike the other e2e suites).
Each test speaks from its own loopback source address (127.0.x.y, all of which
reach 127.0.0.1 on Linux), so the per-address budgets a test spends are its own.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests._system import System, running_system

ADMIN_EMAIL = "admin@emporium.local"
ADMIN_PASSWORD = f"sec-admin-{uuid.uuid4().hex[:10]}"
PASSWORD = "a long passphrase 42"
# A key the suite knows, so it can forge tokens that differ in one claim only.
SIGNING_KEY = Ed25519PrivateKey.generate()
# The real defaults for every budget, whatever the e2e harness lifts.
REAL_BUDGETS = {
    "EMPORIUM_GATEWAY_SIGNUP_BURST": "10",
    "EMPORIUM_GATEWAY_LOGIN_ADDRESS_BURST": "20",
    "EMPORIUM_GATEWAY_CHECKOUT_BURST": "5",
}
_addresses = (f"127.0.{a}.{b}" for a, b in itertools.product(range(10, 250), range(2, 250)))


def fresh_address() -> str:
    return next(_addresses)


def suite_env(**extra: str) -> dict[str, str]:
    pem = SIGNING_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        **REAL_BUDGETS,
        "EMPORIUM_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "EMPORIUM_IDENTITY_SIGNING_KEY": pem,
        # A small hashing queue, so a burst can show the bound without a flood.
        "EMPORIUM_IDENTITY_ARGON2_MAX_CONCURRENT": "2",
        "EMPORIUM_IDENTITY_ARGON2_MAX_WAITING": "4",
        "EMPORIUM_SHIPPING_DISPATCH_DELAY_SECONDS": "1",
        # A lock long enough to observe from a test (the default starts at 1 s).
        "EMPORIUM_IDENTITY_LOGIN_LOCK_BASE_SECONDS": "30",
        **extra,
    }


@pytest.fixture(scope="package")
def system() -> Iterator[System]:
    with running_system(extra_env=suite_env()) as system:
        yield system


@dataclass
class Caller:
    """A client speaking from one source address, with sign-up and login helpers."""

    http: httpx.Client
    address: str

    def register(self, password: str = PASSWORD) -> str:
        email = f"sec-{uuid.uuid4().hex[:12]}@example.com"
        created = self.http.post(
            "/api/identity/users", json={"email": email, "password": password, "name": "Mallory"}
        )
        assert created.status_code == 201, created.text
        return email

    def login(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        response = self.http.post(
            "/api/identity/token", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def customer(self) -> dict[str, str]:
        return self.login(self.register())

    def admin(self) -> dict[str, str]:
        return self.login(ADMIN_EMAIL, ADMIN_PASSWORD)


@contextmanager
def connect(system: System, address: str | None = None) -> Iterator[Caller]:
    """A caller from ``address`` (a fresh loopback address by default)."""
    address = address or fresh_address()
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=system.gateway, transport=transport, timeout=30) as http:
        yield Caller(http, address)


@pytest.fixture
def caller(system: System) -> Iterator[Caller]:
    with connect(system) as made:
        yield made


def is_problem(response: httpx.Response, status: int) -> bool:
    content_type = response.headers.get("content-type", "")
    return response.status_code == status and content_type.startswith("application/problem+json")
