"""Messages as documents: the AsyncAPI 3 document, and schemas a change may not break."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from emporium.contracts import message_types
from emporium.contracts.asyncapi import asyncapi_document, payload_schema, schema_file_name
from emporium.contracts.compat import SCHEMA_DIR, breaking_changes, write_schemas
from emporium.contracts.routing import CONSUMERS
from tests.contract._handlers import consumed_types

# From npm @asyncapi/specs 6.11.1 (schemas/3.0.0.json), Apache-2.0: see LICENSE beside it.
ASYNCAPI_SCHEMA = Path(__file__).parent / "asyncapi" / "asyncapi-3.0.0.schema.json"


def _asyncapi_validator() -> Draft7Validator:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    registry: Registry[Any] = Registry().with_resources(
        (uri, Resource.from_contents(part, default_specification=DRAFT7))
        for uri, part in schema["definitions"].items()
    )
    return Draft7Validator(schema, registry=registry)


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    errors = [e.message for e in _asyncapi_validator().iter_errors(asyncapi_document())]
    assert errors == []


def test_the_asyncapi_validator_does_refuse_an_invalid_document() -> None:
    document = asyncapi_document()
    broken = copy.deepcopy(document)
    next(iter(broken["operations"].values()))["action"] = "publish"  # AsyncAPI 2 wording
    assert list(_asyncapi_validator().iter_errors(broken))


def test_the_asyncapi_document_lists_every_message_type_with_its_producer() -> None:
    document = asyncapi_document()
    assert set(document["channels"]) == set(message_types())
    senders = {
        op["channel"]["$ref"].rsplit("/", 1)[1]
        for op in document["operations"].values()
        if op["action"] == "send"
    }
    assert senders == set(message_types())
    assert document["channels"]["ReserveStock"]["address"] == "emporium.inventory.ReserveStock"


def test_the_declared_consumers_are_exactly_the_services_handler_tables() -> None:
    declared: dict[str, set[str]] = {}
    for message_type, services in CONSUMERS.items():
        for service in services:
            declared.setdefault(service, set()).add(message_type)
    assert declared == consumed_types()


@pytest.mark.parametrize("message_type", sorted(message_types()))
def test_the_current_schema_does_not_break_a_consumer_of_the_previous_release(
    message_type: str,
) -> None:
    cls = message_types()[message_type]
    kept = SCHEMA_DIR / schema_file_name(cls)
    assert kept.is_file(), f"{kept.name} is missing: run `make schemas` and commit it"
    assert breaking_changes(json.loads(kept.read_text()), payload_schema(cls)) == [], (
        f"{message_type} changed incompatibly: give it version {cls.version + 1}"
    )


def test_the_kept_schemas_are_up_to_date(tmp_path: Path) -> None:
    assert write_schemas(tmp_path) == []
    for written in tmp_path.iterdir():
        assert (SCHEMA_DIR / written.name).read_text() == written.read_text(), (
            f"{written.name} changed (compatibly): run `make schemas` and commit it"
        )


OLD: dict[str, Any] = {
    "title": "Thing",
    "type": "object",
    "properties": {"id": {"type": "string"}, "qty": {"type": "integer"}},
    "required": ["id"],
}


def _changed(**properties: Any) -> dict[str, Any]:
    new = copy.deepcopy(OLD)
    new["properties"].update(properties)
    return new


def test_removing_a_field_breaks_a_running_consumer() -> None:
    new = copy.deepcopy(OLD)
    del new["properties"]["qty"]
    assert breaking_changes(OLD, new) == ["Thing.qty was removed"]


def test_retyping_a_field_breaks_a_running_consumer() -> None:
    assert breaking_changes(OLD, _changed(qty={"type": "string"})) == ["Thing.qty changed type"]


def test_a_new_required_field_breaks_a_running_consumer() -> None:
    new = _changed(note={"type": "string"})
    new["required"] = ["id", "note"]
    assert breaking_changes(OLD, new) == ["Thing.note is newly required"]


def test_a_new_optional_field_or_a_new_description_is_compatible() -> None:
    new = _changed(note={"type": "string"}, qty={"type": "integer", "description": "how many"})
    assert breaking_changes(OLD, new) == []


def test_make_schemas_refuses_to_overwrite_a_schema_with_a_breaking_change(tmp_path: Path) -> None:
    cls = message_types()["ReserveStock"]
    kept = payload_schema(cls)
    kept["properties"]["legacy_field"] = {"type": "string"}
    (tmp_path / schema_file_name(cls)).write_text(json.dumps(kept))
    refused = write_schemas(tmp_path)
    assert refused == ["ReserveStock.v1.json: ReserveStock.legacy_field was removed"]
    assert "legacy_field" in (tmp_path / schema_file_name(cls)).read_text()
