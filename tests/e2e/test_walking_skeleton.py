"""The whole system started by the launcher, driven through the gateway only."""

from __future__ import annotations

import httpx
import pytest

from emporium.launcher.specs import DEFAULT_TABLE
from emporium.services.catalog.demo_data import PRODUCTS
from tests._poll import eventually
from tests._system import System

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("system", ["nats", "rabbitmq"], indirect=True, scope="module"),
]


def test_every_instance_is_ready_and_reported(system: System) -> None:
    instances = system.status()
    assert {i["service"] for i in instances} == set(DEFAULT_TABLE.names)
    for instance in instances:
        assert instance["health"] == "ready"
        assert instance["restarts"] == 0
        assert isinstance(instance["pid"], int)
        assert isinstance(instance["port"], int)


def test_seeded_products_come_back_through_the_gateway(client: httpx.Client) -> None:
    page = client.get("/api/catalog/products", params={"limit": 100}).json()
    assert page["total"] == len(PRODUCTS) >= 24
    assert len({c for p in page["items"] for c in p["categories"]}) >= 4
    one = page["items"][0]
    assert client.get(f"/api/catalog/products/{one['id']}").json() == one
    image = client.get(one["image_url"])
    assert image.status_code == 200
    assert image.headers["content-type"].startswith("image/")


def test_every_product_gets_stock_from_the_catalogs_events(client: httpx.Client) -> None:
    skus = [p["sku"] for p in client.get("/api/catalog/products?limit=100").json()["items"]]

    def all_stocked() -> bool:
        return all(client.get(f"/api/inventory/items/{sku}").status_code == 200 for sku in skus)

    eventually(all_stocked, timeout=20, interval=0.2, message="some product never got stock")
    for sku in skus:
        assert client.get(f"/api/inventory/items/{sku}").json() == {"sku": sku, "available": 50}


def test_request_id_is_returned_and_kept(client: httpx.Client) -> None:
    response = client.get("/api/catalog/products?limit=1", headers={"x-request-id": "e2e-rid-1"})
    assert response.headers["x-request-id"] == "e2e-rid-1"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/nosuchservice/things", 404),
        ("/api/catalog/nothing-here", 404),
        ("/api/catalog/products/not-a-uuid", 422),
        ("/api/catalog/products?limit=1000", 422),
        ("/api/inventory/items/NO-SUCH-SKU", 404),
    ],
)
def test_errors_are_problem_json(client: httpx.Client, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status


def test_oversized_body_is_413_problem(client: httpx.Client) -> None:
    response = client.post("/api/catalog/products", content=b"x" * (11 * 1024 * 1024))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_merged_openapi_lists_every_services_paths(client: httpx.Client) -> None:
    document = client.get("/api/openapi.json").json()
    assert "/api/catalog/products/{product_id}" in document["paths"]
    assert "/api/inventory/items/{sku}" in document["paths"]


def test_gateway_serves_health_but_keeps_its_metrics_off_the_public_port(
    client: httpx.Client,
) -> None:
    # Prometheus scrapes EMPORIUM_GATEWAY_METRICS_PORT (tests/integration/test_gateway_edge).
    assert client.get("/health/ready").status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 404
    assert "emporium_gateway_upstream_requests_total" not in metrics.text
