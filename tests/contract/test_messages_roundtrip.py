"""Every message on the wire (events, saga commands, replies) survives JSON unchanged.

The registry (``emporium.contracts.message_types``) is the list of what crosses
the broker: every message class in ``emporium.contracts`` must be in it under its
own ``type``, and each one, built from arbitrary field values, must decode from
its encoded envelope equal to what was sent. Types and versions are pinned in
``WIRE``: renaming a type or bumping a version breaks consumers in flight, so it
has to be a deliberate edit here; a new message has to be added here too.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
import typing
import uuid
from datetime import UTC, datetime
from typing import Any

import annotated_types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

import emporium.contracts
from emporium.chassis.messaging import decode, encode
from emporium.chassis.messaging.envelope import MESSAGE_TYPE_HEADER, MESSAGE_VERSION_HEADER
from emporium.contracts import IntegrationEvent, Message, message_types

WIRE: dict[str, int] = {
    # catalog
    "ProductCreated": 1,
    "ProductUpdated": 1,
    "PriceChanged": 1,
    "ProductDeleted": 1,
    # inventory: commands, then events and replies
    "ReserveStock": 1,
    "CommitStock": 1,
    "ReleaseStock": 1,
    "StockReserved": 1,
    "StockRejected": 1,
    "StockCommitted": 1,
    "StockCommitRefused": 1,
    "StockReleased": 1,
    "StockChanged": 1,
    # orders
    "OrderPlaced": 1,
    "OrderConfirmed": 1,
    "OrderCancelled": 1,
    "OrderShipped": 1,
    # payments: commands, then replies
    "AuthorizePayment": 1,
    "CapturePayment": 1,
    "VoidPayment": 1,
    "RefundPayment": 1,
    "PaymentAuthorized": 1,
    "PaymentDeclined": 1,
    "PaymentCaptured": 1,
    "PaymentCaptureRefused": 1,
    "PaymentVoided": 1,
    "PaymentRefunded": 1,
    # shipping
    "ShipmentCreated": 1,
    "ShipmentDispatched": 1,
}

REGISTRY = message_types()
# JSON numbers that every client (JavaScript included) reads exactly.
SAFE_INT = 2**53 - 1


def _contract_message_classes() -> set[type[Message]]:
    """Every concrete Message subclass defined in a module of ``emporium.contracts``."""
    package = emporium.contracts
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    found: set[type[Message]] = set()
    pending: list[type[Message]] = [Message]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls not in (Message, IntegrationEvent) and cls.__module__.startswith(package.__name__):
            found.add(cls)
    return found


def test_every_message_class_of_the_contracts_is_registered_under_its_own_type() -> None:
    classes = _contract_message_classes()
    registered = set(REGISTRY.values())
    assert classes - registered == set(), "not registered: a missing `type`, or a duplicate one"
    assert all(REGISTRY[cls.type] is cls for cls in classes)


def test_every_registered_message_lives_in_the_contracts() -> None:
    outside = {
        t: c.__module__
        for t, c in REGISTRY.items()
        if not c.__module__.startswith("emporium.contracts.")
    }
    assert outside == {}, "services share messages only through emporium.contracts"


def test_types_and_versions_are_the_pinned_wire_names() -> None:
    assert {t: cls.version for t, cls in REGISTRY.items()} == WIRE


@pytest.mark.parametrize("message_type", sorted(REGISTRY))
def test_subject_is_context_and_type(message_type: str) -> None:
    cls = REGISTRY[message_type]
    assert cls.subject() == f"emporium.{cls.context}.{cls.type}"
    assert cls.context in {"catalog", "inventory", "orders", "payments", "shipping"}


def _strategy_for(annotation: Any, field: FieldInfo | None = None) -> st.SearchStrategy[Any]:
    """Values of ``annotation`` that the field's own constraints accept.

    A field type this does not know fails the test, naming the type, rather than
    leaving that message unchecked.
    """
    metadata = field.metadata if field is not None else []
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*(_strategy_for(arg) for arg in typing.get_args(annotation)))
    if origin is list:
        (item,) = typing.get_args(annotation)
        return st.lists(_strategy_for(item), max_size=4)
    if annotation is type(None):
        return st.none()
    if annotation is uuid.UUID:
        return st.uuids()
    if annotation is datetime:
        return st.datetimes(timezones=st.just(UTC))
    if annotation is int:
        floors = [typing.cast(int, m.ge) for m in metadata if isinstance(m, annotated_types.Ge)]
        return st.integers(min_value=max(floors, default=-SAFE_INT), max_value=SAFE_INT)
    if annotation is str:
        pattern = next((p for m in metadata if (p := getattr(m, "pattern", None))), None)
        return st.from_regex(pattern, fullmatch=True) if pattern else st.text(max_size=40)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return st.fixed_dictionaries(
            {name: _strategy_for(f.annotation, f) for name, f in annotation.model_fields.items()}
        ).map(lambda values: annotation(**values))
    raise TypeError(f"no strategy for {annotation!r}: teach _strategy_for this field type")


@pytest.mark.parametrize("message_type", sorted(REGISTRY))
def test_every_message_round_trips_through_its_json_envelope(message_type: str) -> None:
    cls = REGISTRY[message_type]

    @settings(max_examples=25, deadline=None)
    @given(message=_strategy_for(cls))
    def round_trips(message: Message) -> None:
        envelope = encode(message)
        assert decode(cls, envelope.payload) == message
        assert cls.model_validate_json(message.model_dump_json()) == message
        assert envelope.headers[MESSAGE_TYPE_HEADER] == message_type
        assert envelope.headers[MESSAGE_VERSION_HEADER] == str(cls.version)
        assert envelope.message_id == str(message.id)

    round_trips()
