"""Registry documents, static upstreams and table updates that keep instance state."""

from __future__ import annotations

import json

import pytest

from emporium.services.gateway.proxy import service_for
from emporium.services.gateway.registry import (
    InstanceSpec,
    RegistryError,
    Upstreams,
    parse_registry,
    parse_static,
)
from emporium.services.gateway.settings import GatewaySettings


def document(version: int, *entries: tuple[str, str, str]) -> str:
    instances = [{"service": s, "instance": i, "url": u, "pid": 1} for s, i, u in entries]
    return json.dumps({"version": version, "instances": instances})


def test_the_launchers_document_parses_into_instances() -> None:
    raw = document(7, ("catalog", "catalog-1", "http://127.0.0.1:41235/"))
    assert parse_registry(raw) == (
        7,
        [InstanceSpec("catalog", "catalog-1", "http://127.0.0.1:41235")],
        [],
    )


def test_a_known_service_without_instances_routes_to_503_not_404() -> None:
    raw = json.dumps({"version": 2, "services": ["catalog"], "instances": []})
    version, specs, services = parse_registry(raw)
    upstreams = Upstreams()
    upstreams.update(specs, version, services)
    assert upstreams.get("catalog") == []
    assert upstreams.get("orders") is None


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '{"instances": []}',
        '{"version": 1, "instances": [{"service": "catalog"}]}',
        '{"version": 1, "instances": ["x"]}',
    ],
)
def test_a_malformed_registry_is_rejected(raw: str) -> None:
    with pytest.raises(RegistryError):
        parse_registry(raw)


def test_static_upstreams_are_named_by_index() -> None:
    assert parse_static({"catalog": ["http://catalog:8000", "http://catalog-b:8000"]}) == [
        InstanceSpec("catalog", "catalog-1", "http://catalog:8000"),
        InstanceSpec("catalog", "catalog-2", "http://catalog-b:8000"),
    ]


def test_an_update_keeps_the_state_of_instances_that_stay() -> None:
    table = Upstreams()
    one = InstanceSpec("catalog", "catalog-1", "http://a")
    two = InstanceSpec("catalog", "catalog-2", "http://b")
    added, removed = table.update([one], version=1)
    assert [i.name for i in added] == ["catalog-1"]
    assert removed == []
    kept = added[0]
    kept.healthy, kept.requests = True, 12
    added, removed = table.update([one, two, two], version=2)
    assert [i.name for i in added] == ["catalog-2"]
    assert removed == []
    assert table.get("catalog") == [kept, added[0]]
    assert kept.healthy
    assert kept.requests == 12
    added, removed = table.update([two], version=3)
    assert added == []
    assert removed == [kept]
    assert table.get("inventory") is None
    assert table.version == 3


def test_a_restarted_instance_on_a_new_port_starts_unhealthy() -> None:
    table = Upstreams()
    (old,), _ = table.update([InstanceSpec("catalog", "catalog-1", "http://a:1")])
    old.healthy = True
    (new,), (gone,) = table.update([InstanceSpec("catalog", "catalog-1", "http://a:2")])
    assert gone is old
    assert not new.healthy


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/catalog/products/1", "catalog"),
        ("/api/cart", "cart"),
        ("/api/", ""),
        ("/.well-known/jwks.json", "identity"),
        ("/", "storefront"),
        ("/static/app.css", "storefront"),
        ("/apiary", "storefront"),
    ],
)
def test_paths_route_to_their_service(path: str, service: str) -> None:
    assert service_for(path) == service


def test_settings_refuse_two_discovery_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMPORIUM_GATEWAY_REGISTRY", "/tmp/registry.json")
    monkeypatch.setenv("EMPORIUM_GATEWAY_UPSTREAMS", '{"catalog": ["http://catalog:8000"]}')
    with pytest.raises(ValueError, match="not both"):
        GatewaySettings()


def test_settings_read_static_upstreams_and_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMPORIUM_GATEWAY_UPSTREAMS", '{"catalog": ["http://catalog:8000"]}')
    monkeypatch.setenv("EMPORIUM_GATEWAY_SERVICE_TIMEOUTS", '{"orders": 30}')
    settings = GatewaySettings()
    assert settings.upstreams == {"catalog": ["http://catalog:8000"]}
    assert settings.timeout_for("orders") == 30
    assert settings.timeout_for("catalog") == settings.request_timeout == 15


def test_a_new_restart_count_updates_the_kept_instance_without_replacing_it() -> None:
    table = Upstreams()
    (kept,), _ = table.update([InstanceSpec("catalog", "catalog-1", "http://a:1", 0)])
    kept.healthy = True
    added, removed = table.update([InstanceSpec("catalog", "catalog-1", "http://a:1", 3)])
    assert (added, removed) == ([], [])
    assert table.get("catalog") == [kept]
    assert kept.healthy
    assert kept.describe(0.0)["restarts"] == 3


def test_the_registry_document_carries_restarts_and_static_upstreams_do_not() -> None:
    raw = (
        '{"version": 2, "instances": [{"service": "catalog", "instance": "catalog-1",'
        ' "url": "http://a:1", "pid": 9, "restarts": 1}]}'
    )
    _, (spec,), _ = parse_registry(raw)
    assert spec.restarts == 1
    (static,) = parse_static({"catalog": ["http://catalog:8000"]})
    assert static.restarts is None
