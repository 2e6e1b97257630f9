"""API9:2023 Improper Inventory Management: every route a client can reach
through the gateway is in the merged OpenAPI document, and what is internal
(services' health and metrics, the gateway's metrics and upstream view) is not
reachable from outside, or only by an administrator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.security._routes import served_routes
from tests.security.conftest import Caller, is_problem

pytestmark = [pytest.mark.e2e, pytest.mark.security]

SERVICES = (
    "identity",
    "catalog",
    "inventory",
    "cart",
    "orders",
    "payments",
    "shipping",
    "notifications",
)
# Documentation about the API is not itself part of the API.
DOCUMENTATION = re.compile(r"^/api/[a-z]+/(openapi\.json|docs)$")


def template(path: str) -> str:
    """``/a/{id:uuid}`` as OpenAPI writes it: ``/a/{id}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def reachable_through_the_gateway(path: str) -> bool:
    """The gateway forwards /api/<service>/... and the JWKS; nothing else of a service."""
    return path.startswith("/api/") or path == "/.well-known/jwks.json"


def test_every_route_a_client_can_reach_is_in_the_merged_openapi(
    caller: Caller, tmp_path: Path
) -> None:
    merged = caller.http.get("/api/openapi.json").json()
    assert "x-emporium-unavailable" not in merged
    documented = {
        (method.upper(), path)
        for path, item in merged["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    }
    served = served_routes(tmp_path)
    reachable = [
        route
        for route in served
        if reachable_through_the_gateway(route.path) and not DOCUMENTATION.match(route.path)
    ]
    assert len(reachable) > 30  # the walk found the services' routes
    undocumented = {
        (method, template(route.path))
        for route in reachable
        for method in route.methods - {"HEAD"}
        if (method, template(route.path)) not in documented
    }
    assert undocumented == set()


@pytest.mark.parametrize("service", SERVICES)
def test_a_services_health_and_metrics_are_not_reachable_from_outside(
    caller: Caller, service: str
) -> None:
    for internal in ("metrics", "health/ready", "health/live"):
        response = caller.http.get(f"/api/{service}/{internal}")
        assert response.status_code in (401, 404), (service, internal, response.status_code)
        assert "emporium_http_requests_total" not in response.text


def test_the_gateways_own_metrics_are_not_on_the_public_port(caller: Caller) -> None:
    response = caller.http.get("/metrics")
    assert is_problem(response, 404)
    assert "emporium_gateway" not in response.text


def test_the_gateways_upstream_view_is_admin_only_and_its_health_names_no_instance(
    caller: Caller,
) -> None:
    assert is_problem(caller.http.get("/api/gateway/upstreams"), 401)
    assert is_problem(caller.http.get("/api/gateway/upstreams", headers=caller.customer()), 403)
    ready = caller.http.get("/health/ready").text
    assert "127.0.0.1:" not in ready
    assert "http://" not in ready
