"""Chassis tracing: a bounded ring per instance, parent-based sampling, OTLP when configured."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from emporium.chassis import context
from emporium.chassis.settings import ChassisSettings
from emporium.chassis.tracing import SpanKind, Tracing, span, span_record, use_tracing

SAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(autouse=True)
def no_tracing_left_behind() -> Iterator[None]:
    # The current tracing is a context variable; tests after these must not inherit it.
    yield
    use_tracing(None)


@pytest.fixture
def tracing() -> Tracing:
    made = Tracing("catalog", "catalog-1", buffer=16)
    use_tracing(made)
    return made


def test_the_ring_keeps_only_the_latest_spans(tracing: Tracing) -> None:
    for n in range(20):
        with span(f"step {n}", SpanKind.INTERNAL):
            pass
    assert len(tracing.ring) == 16
    names = [s["name"] for s in tracing.ring.find(match=None, trace_id=None)]
    assert names == []  # nothing asked, nothing returned
    kept = {span_record(s)["name"] for s in tracing.ring._spans}
    assert "step 19" in kept
    assert "step 0" not in kept


def test_the_ring_keeps_plain_data_that_the_collector_stops_tracking(tracing: Tracing) -> None:
    # An SDK span is a dozen tracked objects (locks, deques, attributes): kept
    # alive in the ring, every full collection walked them all.
    with span("process StockReserved", SpanKind.CONSUMER, attributes={"attempt": 1}) as live:
        assert live is not None
        finished = weakref.ref(live)
    del live
    # The collector untracks a tuple once it has seen every item untracked:
    # the attribute pairs on one pass, the record on a later one.
    for _ in range(3):
        gc.collect()
    assert finished() is None  # the ring holds no span alive
    (kept,) = tracing.ring._spans
    assert not gc.is_tracked(kept)
    assert span_record(kept)["attributes"] == {"attempt": 1}


def test_a_server_span_continues_the_callers_trace_and_names_itself_as_the_next_parent(
    tracing: Tracing,
) -> None:
    with span("GET /x", SpanKind.SERVER, parent=SAMPLED_PARENT, remote_parent=True) as server:
        assert server is not None
        outgoing = context.traceparent.get()
        assert outgoing is not None
        with span("SELECT sqlite", SpanKind.CLIENT):
            pass
    assert outgoing.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    spans = tracing.ring.find(trace_id="0af7651916cd43dd8448eb211c80319c")
    by_name = {s["name"]: s for s in spans}
    assert by_name["GET /x"]["parent_id"] == "b7ad6b7169203331"
    assert by_name["GET /x"]["span_id"] == outgoing.split("-")[2]
    assert by_name["SELECT sqlite"]["parent_id"] == by_name["GET /x"]["span_id"]
    assert by_name["GET /x"]["service"] == "catalog"
    assert by_name["GET /x"]["kind"] == "server"


def test_a_span_is_found_by_an_attribute_value_such_as_an_order_id(tracing: Tracing) -> None:
    with (
        span("process StockReserved", SpanKind.CONSUMER, attributes={"order_id": "abc-123"}),
        span("SELECT sqlite", SpanKind.CLIENT),
    ):
        pass
    found = tracing.ring.find(match="ABC-123")
    assert {s["name"] for s in found} == {"process StockReserved", "SELECT sqlite"}


def test_sampling_drops_new_traces_at_ratio_zero_but_keeps_a_sampled_parents_children() -> None:
    tracing = Tracing("orders", "orders-1", sample_ratio=0.0)
    use_tracing(tracing)
    with span("new trace", SpanKind.SERVER, parent=None, remote_parent=True):
        pass
    with span("child of sampled", SpanKind.SERVER, parent=SAMPLED_PARENT, remote_parent=True):
        pass
    assert [span_record(s)["name"] for s in tracing.ring._spans] == ["child of sampled"]


UNSAMPLED_PARENT = SAMPLED_PARENT[:-2] + "00"


def test_a_read_starts_a_trace_at_the_read_ratio_and_a_write_at_the_other() -> None:
    tracing = Tracing("catalog", "catalog-1", sample_ratio=1.0, read_sample_ratio=0.0)
    use_tracing(tracing)
    with span("GET /p", SpanKind.SERVER, remote_parent=True, read=True) as server:
        assert server is None
        unsampled = context.traceparent.get()
    with span("POST /p", SpanKind.SERVER, remote_parent=True) as writer:
        assert writer is not None
    assert [span_record(s)["name"] for s in tracing.ring._spans] == ["POST /p"]
    assert unsampled is not None
    assert unsampled.endswith("-00")


def test_nothing_under_an_unsampled_trace_is_recorded_and_the_decision_travels() -> None:
    tracing = Tracing("orders", "orders-1", sample_ratio=1.0, read_sample_ratio=1.0)
    use_tracing(tracing)
    with span("GET /o", SpanKind.SERVER, parent=UNSAMPLED_PARENT, remote_parent=True) as server:
        assert server is None
        inside = context.traceparent.get()
        with span("GET inventory", SpanKind.CLIENT) as client:
            assert client is None
            assert context.traceparent.get() == inside  # what goes out says "not sampled"
    assert len(tracing.ring) == 0
    assert inside is not None
    assert inside.split("-")[1] == UNSAMPLED_PARENT.split("-")[1]
    assert inside.endswith("-00")
    with span("publish OrderPlaced", SpanKind.PRODUCER, parent=inside, remote_parent=True) as p:
        assert p is None  # the outbox row carried the request's decision
    assert len(tracing.ring) == 0


def test_a_call_outside_any_request_starts_its_own_trace() -> None:
    tracing = Tracing("recommendations", "recommendations-1")
    use_tracing(tracing)
    context.traceparent.set(None)
    with span("GET catalog", SpanKind.CLIENT) as client:
        assert client is not None
    assert [span_record(s)["name"] for s in tracing.ring._spans] == ["GET catalog"]


def test_without_tracing_the_traceparent_still_moves_on_in_the_same_trace() -> None:
    use_tracing(None)
    with span("GET /x", SpanKind.SERVER, parent=SAMPLED_PARENT, remote_parent=True) as server:
        assert server is None
        moved = context.traceparent.get()
    assert moved is not None
    assert moved.split("-")[1] == SAMPLED_PARENT.split("-")[1]
    assert moved.split("-")[2] != SAMPLED_PARENT.split("-")[2]


def test_an_otlp_endpoint_adds_an_otlp_exporter_to_the_traces_path() -> None:
    tracing = Tracing("cart", "cart-1", otlp_endpoint="http://collector.internal:4318")
    try:
        assert isinstance(tracing.otlp_exporter, OTLPSpanExporter)
        assert tracing.otlp_exporter._endpoint == "http://collector.internal:4318/v1/traces"
    finally:
        tracing.shutdown()
    assert Tracing("cart", "cart-1").otlp_exporter is None


def test_tracing_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMPORIUM_TRACE_SAMPLE_RATIO", "0.25")
    monkeypatch.setenv("EMPORIUM_TRACE_READ_SAMPLE_RATIO", "0.05")
    monkeypatch.setenv("EMPORIUM_OTLP_ENDPOINT", "http://collector:4318")
    settings = ChassisSettings()
    assert settings.trace_sample_ratio == 0.25
    assert settings.trace_read_sample_ratio == 0.05
    assert settings.otlp_endpoint == "http://collector:4318"
    monkeypatch.setenv("EMPORIUM_TRACE_SAMPLE_RATIO", "1.5")
    with pytest.raises(ValueError, match="trace_sample_ratio"):
        ChassisSettings()
