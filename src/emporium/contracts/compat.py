"""Whether a message's new schema still suits a consumer running the previous release.

A consumer of the previous release parses the new body with its old model
(``extra="ignore"``), so adding an optional field is safe, while removing a
field, changing its type, or making a field required that it may not send is
not. Such a change needs a new ``version`` of the message, which both
releases understand, and a new schema file beside the old one.

``python -m emporium.contracts.compat DIR`` (``make schemas``) writes each
message's schema to ``DIR/<type>.v<version>.json`` and refuses to overwrite
one with a breaking change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from emporium.contracts._base import message_types
from emporium.contracts.asyncapi import payload_schema, schema_file_name

__all__ = ["SCHEMA_DIR", "breaking_changes", "write_schemas"]

SCHEMA_DIR = Path(__file__).parent / "schemas"
# What a field's schema says about its wire shape; titles and descriptions do not count.
_SHAPE_KEYS = ("type", "$ref", "format", "anyOf", "oneOf", "allOf", "items", "enum", "const")


def _shape(field: dict[str, Any]) -> str:
    return json.dumps({k: field[k] for k in _SHAPE_KEYS if k in field}, sort_keys=True)


def _object_changes(where: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    found: list[str] = []
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, field in old_props.items():
        if name not in new_props:
            found.append(f"{where}.{name} was removed")
        elif _shape(field) != _shape(new_props[name]):
            found.append(f"{where}.{name} changed type")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        found.append(f"{where}.{name} is newly required")
    return found


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What in ``new`` would break a consumer built for ``old`` (empty: compatible)."""
    title = str(old.get("title", "message"))
    found = _object_changes(title, old, new)
    old_defs: dict[str, Any] = old.get("$defs", {})
    new_defs: dict[str, Any] = new.get("$defs", {})
    for name, definition in old_defs.items():
        if name not in new_defs:
            # Still referenced? Then the reference itself changed, reported above.
            continue
        found += _object_changes(f"{title}/{name}", definition, new_defs[name])
    return found


def write_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Write every message's schema; returns the breaking changes, whose files it leaves alone."""
    directory.mkdir(parents=True, exist_ok=True)
    refusals: list[str] = []
    for message_type in message_types().values():
        path = directory / schema_file_name(message_type)
        schema = payload_schema(message_type)
        if path.exists():
            broken = breaking_changes(json.loads(path.read_text()), schema)
            if broken:
                refusals += [f"{path.name}: {change}" for change in broken]
                continue
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return refusals


if __name__ == "__main__":
    refused = write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR)
    for line in refused:
        sys.stderr.write(f"breaking change, give the message a new version: {line}\n")
    sys.exit(1 if refused else 0)
