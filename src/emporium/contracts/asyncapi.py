"""The AsyncAPI 3 document of every message, generated from the contracts.

One channel per message type (its subject), one message per channel with the
JSON Schema of its body and the headers every envelope carries, one ``send``
operation for its producer and one ``receive`` per consumer. The gateway serves
it at ``/api/asyncapi.json``; ``make schemas`` writes each payload schema to
``contracts/schemas/`` so a change that breaks a running consumer shows in review.
"""

from __future__ import annotations

from typing import Any

from emporium.contracts._base import IntegrationEvent, Message, message_types
from emporium.contracts.routing import consumers_of, producer_of

__all__ = ["asyncapi_document", "payload_schema", "schema_file_name"]

_HEADERS = {
    "type": "object",
    "properties": {
        "x-message-id": {"type": "string", "format": "uuid"},
        "x-message-type": {"type": "string"},
        "x-message-version": {"type": "string"},
        "x-request-id": {"type": "string"},
        "traceparent": {"type": "string", "description": "W3C trace context"},
    },
    "required": ["x-message-id", "x-message-type", "x-message-version"],
}


def payload_schema(
    message_type: type[Message], ref_template: str = "#/$defs/{model}"
) -> dict[str, Any]:
    """The JSON Schema of the message's body as it travels (serialisation mode)."""
    schema = message_type.model_json_schema(mode="serialization", ref_template=ref_template)
    schema["title"] = message_type.type
    schema["x-version"] = message_type.version
    return schema


def schema_file_name(message_type: type[Message]) -> str:
    return f"{message_type.type}.v{message_type.version}.json"


def asyncapi_document(namespace: str = "emporium") -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name, message_type in sorted(message_types().items()):
        payload = payload_schema(message_type, "#/components/schemas/{model}")
        schemas.update(payload.pop("$defs", {}))
        kind = "event" if issubclass(message_type, IntegrationEvent) else "command"
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (message_type.__doc__ or "").strip().split("\n")[0] or name,
            "contentType": "application/json",
            "headers": _HEADERS,
            "payload": payload,
            "tags": [{"name": kind}, {"name": message_type.context}],
            "x-version": message_type.version,
        }
        channels[name] = {
            "address": f"{namespace}.{message_type.context}.{name}",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        reference = {"$ref": f"#/channels/{name}"}
        message_ref = [{"$ref": f"#/channels/{name}/messages/{name}"}]
        producer = producer_of(message_type)
        operations[f"{producer}.send.{name}"] = {
            "action": "send",
            "channel": reference,
            "messages": message_ref,
            "summary": f"{producer} publishes {name} through its outbox",
            "x-service": producer,
        }
        for consumer in consumers_of(message_type):
            operations[f"{consumer}.receive.{name}"] = {
                "action": "receive",
                "channel": reference,
                "messages": message_ref,
                "summary": f"{consumer} handles {name} once (inbox)",
                "x-service": consumer,
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Emporium messages",
            "version": "1.0.0",
            "description": "Integration events, saga commands and replies between services.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
