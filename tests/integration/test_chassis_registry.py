"""The chassis' reading of the launcher's registry: what a client may call directly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from emporium.chassis import ChassisSettings
from emporium.chassis.registry import RegistryEndpoints, RegistryFile


def write(path: Path, instances: list[tuple[str, str]]) -> None:
    document = {
        "version": 1,
        "services": sorted({service for service, _ in instances}),
        "instances": [{"service": s, "instance": f"{s}-{n}", "url": u, "pid": 1}
                      for n, (s, u) in enumerate(instances)],
    }  # fmt: skip
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document))
    os.replace(temporary, path)


def test_a_service_s_urls_in_the_registry_s_order(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    write(path, [("catalog", "http://a:1/"), ("cart", "http://c:1"), ("catalog", "http://b:1")])
    file = RegistryFile(path, interval=0)
    assert file.urls("catalog") == ("http://a:1", "http://b:1")
    assert file.urls("orders") == ()


def test_an_unreadable_document_keeps_the_last_good_one_and_a_missing_file_none(
    tmp_path: Path,
) -> None:
    path = tmp_path / "registry.json"
    write(path, [("catalog", "http://a:1")])
    file = RegistryFile(path, interval=0)
    assert file.urls("catalog") == ("http://a:1",)
    path.write_text('{"version": "half a wri')
    assert file.urls("catalog") == ("http://a:1",)
    path.unlink()
    assert file.urls("catalog") == ()


def test_the_file_is_looked_at_again_only_after_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    write(path, [("catalog", "http://a:1")])
    file = RegistryFile(path, interval=3600)
    assert file.urls("catalog") == ("http://a:1",)
    write(path, [("catalog", "http://b:1")])
    assert file.urls("catalog") == ("http://a:1",)


def test_endpoints_take_turns_and_skip_what_is_excluded_or_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    write(path, [("catalog", "http://a:1"), ("catalog", "http://b:1"), ("catalog", "http://c:1")])
    endpoints = RegistryEndpoints(RegistryFile(path, interval=0), "catalog", ejection=3600)
    assert [endpoints.pick() for _ in range(4)] == ["http://a:1", "http://b:1", "http://c:1",
                                                     "http://a:1"]  # fmt: skip
    endpoints.set_aside("http://b:1")
    assert [endpoints.pick() for _ in range(3)] == ["http://c:1", "http://a:1", "http://c:1"]
    assert endpoints.pick(exclude={"http://a:1", "http://c:1"}) is None


def test_a_route_names_endpoints_only_with_a_registry_and_no_url_for_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    internal = "http://127.0.0.1:8080"
    assert ChassisSettings(internal_url=internal).route("catalog") == (internal, None)
    with_registry = ChassisSettings(internal_url=internal, registry_file=tmp_path / "r.json")
    url, found = with_registry.route("catalog")
    assert url == internal
    assert found is not None
    assert found.service == "catalog"
    # A URL the service's own settings give wins, then EMPORIUM_UPSTREAM_<SERVICE>.
    assert with_registry.route("catalog", "http://here:1/") == ("http://here:1", None)
    monkeypatch.setenv("EMPORIUM_UPSTREAM_CATALOG", "http://catalog:8000")
    assert with_registry.route("catalog") == ("http://catalog:8000", None)
    assert with_registry.route("cart").endpoints is not None
