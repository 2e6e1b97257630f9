"""One checkout, one trace; every instance's metrics; ``emporium trace`` — on a running system."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests._poll import eventually
from tests._system import System
from tests.e2e._shop import add_to_cart, admin, checkout, product_at, signed_in, wait_for_status

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("system", ["nats"], indirect=True, scope="module"),
]

SYSTEM_ENV = {"EMPORIUM_SHIPPING_DISPATCH_DELAY_SECONDS": "1"}

# The saga's hops as (producer service, message type, consumer service).
CHECKOUT_HOPS = [
    ("orders", "ReserveStock", "inventory"),
    ("inventory", "StockReserved", "orders"),
    ("orders", "AuthorizePayment", "payments"),
    ("payments", "PaymentAuthorized", "orders"),
    ("orders", "OrderConfirmed", "shipping"),
    ("orders", "OrderConfirmed", "notifications"),
]


@pytest.fixture(scope="module")
def client(system: System) -> Iterator[httpx.Client]:
    with system.client() as client:
        yield client


@pytest.fixture(scope="module")
def shipped_order(client: httpx.Client) -> dict[str, Any]:
    user = signed_in(client)
    add_to_cart(client, user, product_at(client, 3), quantity=1)
    order = checkout(client, user)
    wait_for_status(client, user, order["id"], "SHIPPED", within=30)
    return order


def _trace(client: httpx.Client, key: str, must_have: int) -> list[dict[str, Any]]:
    headers = admin(client)

    def spans() -> list[dict[str, Any]]:
        found = client.get(f"/api/gateway/traces/{key}", headers=headers)
        assert found.status_code == 200, found.text
        return list(found.json()["spans"])

    def complete(found: list[dict[str, Any]]) -> bool:
        return bool(sum(s["kind"] == "consumer" for s in found) >= must_have)

    return eventually(spans, complete, timeout=15, message=f"the trace of {key} is incomplete")


def test_one_checkout_is_one_trace_from_the_gateway_through_the_broker_to_every_participant(
    client: httpx.Client, shipped_order: dict[str, Any]
) -> None:
    found = _trace(client, shipped_order["id"], must_have=len(CHECKOUT_HOPS))
    # The order names two traces: the checkout, and the warehouse's later
    # dispatch (started by shipping's dispatcher, not by a request).
    (checkout_trace,) = {s["trace_id"] for s in found if s["name"] == "process ReserveStock"}
    spans = [s for s in found if s["trace_id"] == checkout_trace]
    by_id = {s["span_id"]: s for s in spans}
    roots = [s for s in spans if s["parent_id"] not in by_id]
    assert [(r["service"], r["kind"]) for r in roots] == [("gateway", "server")]
    (root,) = roots
    assert root["name"] == "POST /api/orders"

    def chain(span: dict[str, Any]) -> list[dict[str, Any]]:
        path = [span]
        while path[-1]["parent_id"] in by_id:
            path.append(by_id[path[-1]["parent_id"]])
        return path

    # The order is placed: gateway server -> gateway client -> orders server.
    (placed,) = [s for s in spans if s["service"] == "orders" and s["kind"] == "server"]
    assert [(s["service"], s["kind"]) for s in chain(placed)[1:]] == [
        ("gateway", "client"),
        ("gateway", "server"),
    ]
    # Each hop of the saga: a producer in one service is the parent of the
    # consumer in the next, and every consumer leads back to the root.
    for producer_service, message_type, consumer_service in CHECKOUT_HOPS:
        consumer = next(
            s
            for s in spans
            if s["kind"] == "consumer"
            and s["service"] == consumer_service
            and s["name"] == f"process {message_type}"
        )
        producer = by_id[consumer["parent_id"]]
        assert (producer["service"], producer["kind"], producer["name"]) == (
            producer_service,
            "producer",
            f"publish {message_type}",
        )
        assert chain(consumer)[-1] is root
    assert {s["service"] for s in spans} >= {
        "gateway",
        "orders",
        "inventory",
        "payments",
        "shipping",
        "notifications",
    }
    assert any(s["attributes"].get("db.system") == "sqlite" for s in spans)


REQUIRED_SERIES = {
    "emporium_http_requests",
    "emporium_http_request_duration_seconds",
    "emporium_db_pool_connections",
}
MESSAGING_SERIES = {
    "emporium_outbox_backlog",
    "emporium_outbox_oldest_age_seconds",
}


_BASE = re.compile(r"_(total|bucket|sum|count|created)$")


def _series(text: str) -> set[str]:
    """Metric names, without the suffixes of their samples (_total, _bucket, ...).

    Family names too: a labelled metric nothing has touched yet (inventory
    serves no HTTP during a checkout) is declared with no samples.
    """
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(_BASE.sub("", family.name))
        names.update(_BASE.sub("", sample.name) for sample in family.samples)
    return names


def test_every_instance_serves_metrics_prometheus_can_parse_with_the_messaging_series(
    system: System, shipped_order: dict[str, Any]
) -> None:
    series: dict[str, set[str]] = {}
    for instance in system.status():
        if instance["service"] == "gateway":
            continue  # its /metrics is on a separate listener, never the public port
        answer = httpx.get(f"http://127.0.0.1:{instance['port']}/metrics", timeout=5)
        assert answer.status_code == 200
        series[instance["service"]] = _series(answer.text)
    for service, names in series.items():
        if service in {"storefront"}:
            assert "emporium_http_requests" in names
            continue
        assert names >= REQUIRED_SERIES, (service, sorted(names))
    for service in ("orders", "inventory", "payments", "shipping", "notifications"):
        assert series[service] >= MESSAGING_SERIES, service
        assert "emporium_consumer_lag" in series[service], service
        assert "emporium_messages_consumed" in series[service], service
    assert "emporium_messages_published" in series["orders"]
    assert "emporium_http_client_breaker_state" in series["orders"]
    assert {"emporium_saga_transitions", "emporium_saga_step_duration_seconds"} <= series["orders"]


def test_emporium_trace_prints_the_span_tree_of_an_order(
    system: System, shipped_order: dict[str, Any]
) -> None:
    result = system.cli("trace", shipped_order["id"], timeout=60)
    assert result.returncode == 0, result.stderr
    for expected in ("gateway", "POST /api/orders", "process ReserveStock", "inventory", "ms"):
        assert expected in result.stdout, result.stdout


def test_the_trace_api_and_internal_spans_are_not_public(client: httpx.Client) -> None:
    assert client.get("/internal/spans").status_code == 404
    assert client.get("/api/gateway/traces/abc").status_code == 401
    customer = signed_in(client)
    assert client.get("/api/gateway/traces/abc", headers=customer).status_code == 403
    assert client.get("/api/gateway/instances", headers=customer).status_code == 403


async def _publish_unparseable(broker_url: str, namespace: str, message_id: str) -> None:
    client = await nats.connect(broker_url)
    try:
        headers = {"x-message-id": message_id, "x-message-type": "ReserveStock"}
        subject = f"{namespace}.inventory.ReserveStock"
        await client.jetstream().publish(subject, b"{not json", headers=headers)
    finally:
        await client.close()


def test_emporium_deadletters_lists_a_dead_letter_and_replays_it_by_id(system: System) -> None:
    status = system.cli("status")
    broker = re.search(r"broker (nats://\S+)", status.stdout)
    assert broker is not None, status.stdout
    message_id = str(uuid.uuid4())
    asyncio.run(
        _publish_unparseable(broker[1], system.env["EMPORIUM_BROKER_NAMESPACE"], message_id)
    )

    def listed() -> str:
        result = system.cli("deadletters")
        assert result.returncode == 0, result.stderr
        return result.stdout

    table = eventually(
        listed, lambda out: message_id[:8] in out, timeout=15, message="no dead letter listed"
    )
    row = next(line for line in table.splitlines() if message_id[:8] in line)
    letter = row.split()[0]
    assert letter.startswith("inventory:")
    replayed = system.cli("deadletters", "--replay", letter)
    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed {letter}" in replayed.stdout
    # Still unparseable, so it comes back as a new dead letter; the old id is gone.
    again = system.cli("deadletters", "--replay", letter)
    assert again.returncode == 1
