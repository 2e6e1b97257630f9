"""The catalog through the gateway of a whole system started by the launcher:
browse, search, conditional GET, and admin writes with an admin signed in at identity."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from emporium.services.catalog.demo_data import PRODUCTS
from tests._system import System

pytestmark = pytest.mark.e2e

ADMIN = "admin@emporium.local"
ADMIN_PASSWORD = f"e2e-admin-{uuid.uuid4().hex[:8]}"
SYSTEM_ENV = {"EMPORIUM_ADMIN_PASSWORD": ADMIN_PASSWORD}


@pytest.fixture(scope="module")
def admin(system: System) -> dict[str, str]:
    with system.client() as client:
        response = client.post(
            "/api/identity/token", json={"email": ADMIN, "password": ADMIN_PASSWORD}
        )
    if response.status_code == 404:
        pytest.skip("SKIPPED LOUDLY: this system has no identity service to sign an admin in")
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_search_through_the_gateway_finds_by_name_and_description(client: httpx.Client) -> None:
    skus = [p["sku"] for p in client.get("/api/catalog/products?q=linen").json()["items"]]
    # "Linen Bedding Set" by name, before the lamp with a linen shade (description).
    assert skus == ["HOM-001", "HOM-002"]
    assert client.get('/api/catalog/products?q="NEAR(').status_code == 200


def test_browsing_pages_cover_the_catalog_once(client: httpx.Client) -> None:
    ids: list[str] = []
    for offset in range(0, len(PRODUCTS), 8):
        page = client.get("/api/catalog/products", params={"limit": 8, "offset": offset}).json()
        ids.extend(p["id"] for p in page["items"])
    assert len(ids) == len(set(ids)) == page["total"] >= len(PRODUCTS)


def test_reads_revalidate_with_304_through_the_gateway(client: httpx.Client) -> None:
    product = client.get("/api/catalog/products?limit=1").json()["items"][0]
    for path in ["/api/catalog/products?q=wool", f"/api/catalog/products/{product['id']}"]:
        first = client.get(path)
        assert first.headers["cache-control"].startswith("public, max-age=")
        again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.headers["etag"] == first.headers["etag"]


def test_admin_price_change_is_visible_in_reads(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    body: dict[str, Any] = {
        "sku": f"E2E-{uuid.uuid4().hex[:8]}",
        "name": "Gateway Kettle",
        "price": {"amount": 2500, "currency": "USD"},
        "categories": ["kitchen"],
    }
    created = client.post("/api/catalog/products", json=body, headers=admin)
    assert created.status_code == 201, created.text
    path = created.headers["location"]
    etag = client.get(path).headers["etag"]
    changed = client.patch(path, json={"price": {"amount": 1999, "currency": "USD"}}, headers=admin)
    assert changed.status_code == 200
    after = client.get(path, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.json()["price"] == {"amount": 1999, "currency": "USD"}
    found = client.get("/api/catalog/products?q=gateway kettle").json()["items"]
    assert [p["price"]["amount"] for p in found] == [1999]
    assert client.post("/api/catalog/products", json=body, headers=admin).status_code == 409
    assert client.post("/api/catalog/products", json=body).status_code == 401
    assert client.delete(path, headers=admin).status_code == 204
    assert client.get(path).status_code == 404


def test_the_shops_product_page_calls_catalog_directly_not_through_the_gateway(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    """Locally the storefront reads the launcher's registry and calls the
    instances it lists, as it calls each Service in Kubernetes: the gateway
    carries the shopper's page and nothing of what the page needs."""

    def through_gateway(service: str) -> int:
        answer = client.get("/api/gateway/upstreams", headers=admin)
        assert answer.status_code == 200, answer.text
        return sum(i["requests"] for i in answer.json()["instances"] if i["service"] == service)

    product = client.get("/api/catalog/products?limit=1").json()["items"][0]
    before = {service: through_gateway(service) for service in ("catalog", "storefront")}
    page = client.get(f"/products/{product['id']}")
    assert page.status_code == 200
    assert product["name"] in page.text
    assert through_gateway("storefront") == before["storefront"] + 1
    assert through_gateway("catalog") == before["catalog"]
