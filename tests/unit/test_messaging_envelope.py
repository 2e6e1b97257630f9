from __future__ import annotations

import uuid

import pytest

from emporium.chassis.messaging import PoisonMessageError, context, decode, encode, make_transport
from emporium.chassis.messaging.consumer import ConsumerSpec
from emporium.chassis.messaging.envelope import (
    MESSAGE_ID_HEADER,
    MESSAGE_TYPE_HEADER,
    message_id_of,
)
from emporium.contracts.catalog import ProductCreated
from emporium.contracts.money import Money


def _product() -> ProductCreated:
    return ProductCreated(product_id=uuid.uuid4(), sku="SKU-1", name="x", price=Money(amount=5))


def test_envelope_round_trips_the_message() -> None:
    event = _product()
    envelope = encode(event)
    assert envelope.subject == "emporium.catalog.ProductCreated"
    assert envelope.message_id == str(event.id) == envelope.broker_dedup_id
    assert envelope.headers[MESSAGE_TYPE_HEADER] == "ProductCreated"
    assert decode(ProductCreated, envelope.payload) == event


def test_namespace_prefixes_the_subject() -> None:
    assert encode(_product(), namespace="t123").subject == "t123.catalog.ProductCreated"


@pytest.mark.parametrize("body", [b"{not json", b'{"id": "x"}', b"\xff\xfe", b"[]"])
def test_unparseable_body_is_poison(body: bytes) -> None:
    with pytest.raises(PoisonMessageError):
        decode(ProductCreated, body)


def test_request_context_rides_in_headers_only_when_set() -> None:
    assert "x-request-id" not in encode(_product()).headers
    token = context.request_id.set("req-1")
    trace = context.traceparent.set("00-abc-def-01")
    try:
        headers = encode(_product()).headers
    finally:
        context.traceparent.reset(trace)
        context.request_id.reset(token)
    assert headers["x-request-id"] == "req-1"
    assert headers["traceparent"] == "00-abc-def-01"


def test_consumer_sees_the_publishers_context_while_handling() -> None:
    with context.bound_context({"x-request-id": "req-2"}):
        assert context.request_id.get() == "req-2"
        assert context.traceparent.get() is None
    assert context.request_id.get() is None


def test_message_id_comes_from_headers_or_body() -> None:
    event = _product()
    envelope = encode(event)
    assert message_id_of(envelope.headers, b"") == event.id
    assert message_id_of({}, envelope.payload) == event.id
    assert message_id_of({MESSAGE_ID_HEADER: "nope"}, b"") is None


def test_consumer_name_is_per_service_and_type() -> None:
    spec = ConsumerSpec("inventory", ProductCreated, namespace="ns")
    assert spec.name == "inventory.ProductCreated"
    assert spec.subject == "ns.catalog.ProductCreated"
    assert spec.dead_letter_subject == "dlq.ns.inventory.ProductCreated"


def test_broker_is_chosen_by_url_scheme() -> None:
    assert type(make_transport("nats://127.0.0.1:1")).__name__ == "NatsTransport"
    assert type(make_transport("amqp://guest:guest@127.0.0.1:1/")).__name__ == "RabbitTransport"
    with pytest.raises(ValueError, match="unsupported scheme"):
        make_transport("kafka://x")
