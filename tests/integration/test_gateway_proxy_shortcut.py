"""Which requests the gateway sends straight to its proxy, skipping the router."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from emporium.chassis import ChassisSettings
from emporium.services.gateway.main import create_app
from emporium.services.gateway.proxy import ProxyShortcut, ProxyTable
from emporium.services.gateway.settings import GatewaySettings


def _table(tmp_path: Path) -> ProxyTable:
    app = create_app(
        GatewaySettings(auth_enabled=False, registry=tmp_path / "registry.json"),
        ChassisSettings(var_dir=tmp_path),
    )
    for layer in app.user_middleware:
        table = layer.kwargs.get("table")
        if isinstance(table, ProxyTable):
            assert getattr(layer, "cls", None) is ProxyShortcut
            return table
    raise AssertionError("the gateway has no proxy shortcut")


@pytest.mark.parametrize(
    "path", ["/api/catalog/products/1", "/api/catalog", "/products/1", "/", "/cart"]
)
def test_paths_only_the_proxy_answers_go_straight_to_it(tmp_path: Path, path: str) -> None:
    assert _table(tmp_path).owns(path)


@pytest.mark.parametrize(
    "path",
    [
        "/api/gateway/upstreams",
        "/api/gateway/traces/abc",
        "/api/openapi.json",
        "/api/docs",
        "/health/ready",
        "/metrics",
        "/internal/spans",
        "/internal/anything",
    ],
)
def test_the_gateways_own_routes_keep_the_router(tmp_path: Path, path: str) -> None:
    assert not _table(tmp_path).owns(path)


def test_a_route_with_a_parameter_where_claims_are_made_turns_the_shortcut_off() -> None:
    class Route:
        def __init__(self, path: str) -> None:
            self.path = path

    catch_all = Route("/{path:path}")
    table = ProxyTable()
    table.bind([Route("/api/{service}/x"), catch_all], catch_all)
    assert not table.owns("/api/catalog/products")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "POST"])
async def test_the_gateway_answers_no_internal_path_itself_nor_proxies_one(
    tmp_path: Path, method: str
) -> None:
    # Fault injection on, as the launcher runs it locally: still nobody can set
    # a fault (on the gateway, or through it on the storefront) from outside.
    app = create_app(
        GatewaySettings(auth_enabled=False, registry=tmp_path / "registry.json"),
        ChassisSettings(var_dir=tmp_path, fault_injection=True),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        for path in ("/internal/fault", "/internal/spans", "/internal/other"):
            response = await client.request(
                method, path, json={"error_rate": 1, "seconds": 5} if method == "PUT" else None
            )
            # The gateway's own refusal, not the proxy's 404 for a storefront
            # this test never started (a proxied PUT would reach a real one).
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["detail"] == "Not found", (method, path, response.text)
    assert app.state.faults.current is None
