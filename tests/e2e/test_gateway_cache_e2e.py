"""The gateway's cache of catalog's answers in a whole system started by the launcher.

The gateway keeps catalog's public answers (decision 0031) here for 60 s, far
longer than any wait below: only catalog's event, heard through the
launcher's broker, can make a change made behind the gateway's back show in
time.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests._poll import eventually
from tests._system import System

pytestmark = pytest.mark.e2e

ADMIN = "admin@emporium.local"
ADMIN_PASSWORD = f"e2e-admin-{uuid.uuid4().hex[:8]}"
SYSTEM_ENV = {"EMPORIUM_ADMIN_PASSWORD": ADMIN_PASSWORD, "EMPORIUM_GATEWAY_CACHE_SECONDS": "60"}


def _catalog_requests(client: httpx.Client, admin: dict[str, str]) -> int:
    """How many requests the gateway has passed on to catalog so far."""
    answer = client.get("/api/gateway/upstreams", headers=admin)
    assert answer.status_code == 200, answer.text
    return sum(i["requests"] for i in answer.json()["instances"] if i["service"] == "catalog")


def test_a_change_made_behind_the_gateways_back_shows_through_it_by_catalogs_event(
    system: System,
) -> None:
    with system.client() as client:
        signed_in = client.post(
            "/api/identity/token", json={"email": ADMIN, "password": ADMIN_PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        admin = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        product = client.get("/api/catalog/products?limit=1&offset=3").json()["items"][0]
        path = f"/api/catalog/products/{product['id']}"

        def broker_heard() -> bool:
            return client.get("/health/ready").json()["checks"].get("broker") is True

        eventually(broker_heard, timeout=15, message="the gateway never heard catalog")
        first = client.get(path)
        passed_on = _catalog_requests(client, admin)
        again = [client.get(path) for _ in range(5)]
        assert all(r.content == first.content and "age" in r.headers for r in again)
        assert _catalog_requests(client, admin) == passed_on  # none reached catalog

        # Straight to catalog's instance: the gateway sees no write pass.
        (catalog,) = system.instances("catalog")
        renamed = f"{product['name']} (renamed)"
        changed = httpx.patch(
            f"{catalog['url']}{path}", json={"name": renamed}, headers=admin, timeout=10
        )
        assert changed.status_code == 200, changed.text

        eventually(
            lambda: client.get(path).json()["name"],
            lambda name: name == renamed,
            timeout=10,
            message="the gateway kept the old product past catalog's event",
        )
