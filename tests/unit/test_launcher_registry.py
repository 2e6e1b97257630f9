"""The registry document the gateway reads."""

from __future__ import annotations

from emporium.launcher.registry import RegistryEntry, build_document


def test_document_lists_instances_sorted_with_the_contract_keys() -> None:
    entries = [
        RegistryEntry("inventory", "inventory-1", "http://127.0.0.1:5002", 12),
        RegistryEntry("catalog", "catalog-2", "http://127.0.0.1:5001", 11),
        RegistryEntry("catalog", "catalog-1", "http://127.0.0.1:5000", 10),
    ]
    assert build_document(7, entries) == {
        "version": 7,
        "services": ["catalog", "inventory"],
        "instances": [
            {
                "service": "catalog",
                "instance": "catalog-1",
                "url": "http://127.0.0.1:5000",
                "pid": 10,
                "restarts": 0,
            },
            {
                "service": "catalog",
                "instance": "catalog-2",
                "url": "http://127.0.0.1:5001",
                "pid": 11,
                "restarts": 0,
            },
            {
                "service": "inventory",
                "instance": "inventory-1",
                "url": "http://127.0.0.1:5002",
                "pid": 12,
                "restarts": 0,
            },
        ],
    }


def test_an_empty_registry_still_has_a_version() -> None:
    assert build_document(1, []) == {"version": 1, "services": [], "instances": []}


def test_a_service_with_no_instance_up_is_still_listed() -> None:
    entries = [RegistryEntry("inventory", "inventory-1", "http://127.0.0.1:5002", 12)]
    document = build_document(3, entries, services=["catalog", "inventory"])
    assert document["services"] == ["catalog", "inventory"]
    assert [i["service"] for i in document["instances"]] == ["inventory"]


def test_each_instance_publishes_its_restart_count_for_the_gateway() -> None:
    entries = [RegistryEntry("catalog", "catalog-1", "http://127.0.0.1:5000", 10, restarts=2)]
    assert build_document(1, entries)["instances"][0]["restarts"] == 2
