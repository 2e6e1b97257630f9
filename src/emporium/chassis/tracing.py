"""OpenTelemetry tracing for every service: one trace across HTTP and the broker.

Each service gets its own :class:`Tracing` (its own ``TracerProvider``, so
tests that run several services in one process still tell them apart). Its
spans always go to a bounded in-memory :class:`SpanRing` served at
``GET /internal/spans``; with ``EMPORIUM_OTLP_ENDPOINT`` they are also exported
over OTLP/HTTP in batches.

Sampling is decided once, where a trace starts, and travels in the
traceparent's flags (parent-based): ``EMPORIUM_TRACE_SAMPLE_RATIO`` for new
traces that change something (a checkout, a message flow), and
``EMPORIUM_TRACE_READ_SAMPLE_RATIO`` for those started by a GET or HEAD, the
hot read path. An unsampled request never reaches the OpenTelemetry SDK: it
only moves the traceparent on (flags ``00``), as tracing off does, so it
costs what tracing off costs.

The spans are written by the chassis itself, not by instrumentation packages:
the request middleware (server), :class:`~emporium.chassis.http.ServiceClient`
and the gateway's proxy (client), the outbox relay (producer), the consumer
(consumer) and SQLAlchemy cursor events (database). Each sets
:data:`emporium.chassis.context.traceparent` to its own span while it runs, so
whatever goes out next (a header, an outbox row) names it as the parent.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from emporium.chassis import context

__all__ = [
    "SpanKind",
    "SpanRing",
    "Tracing",
    "current_tracing",
    "mark_error",
    "parent_context",
    "span",
    "span_record",
    "traceparent_of",
    "use_tracing",
]

logger = logging.getLogger(__name__)

_current: ContextVar[Tracing | None] = ContextVar("emporium_tracing", default=None)
_KINDS = {
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
    SpanKind.INTERNAL: "internal",
}


# A finished span as the ring keeps it: a plain tuple of numbers and strings
# (trace id, span id, parent span id or None, name, kind, service, instance,
# start and end in ns, error, attributes as (key, value) pairs). An OTel span
# is a dozen objects the cyclic collector tracks (its locks, deques, attribute
# dict); a full ring of them was most of a service's tracked objects, and a
# full collection walked them all (78 ms in orders under checkout). The
# collector stops tracking a tuple of such values once it has seen its items
# untracked (a pass or two).
SpanData = tuple[
    int, int, int | None, str, str, str, str, int, int, bool, tuple[tuple[str, Any], ...]
]
# The fields the ring searches.
_TRACE_ID: Final = 0
_PARENT_ID: Final = 2
_ATTRIBUTES: Final = 10


def span_data(recorded: ReadableSpan) -> SpanData | None:
    """What the ring keeps of a finished span (None: it has no context)."""
    ctx = recorded.context
    if ctx is None:
        return None
    resource = recorded.resource.attributes
    start = recorded.start_time or 0
    return (
        ctx.trace_id,
        ctx.span_id,
        recorded.parent.span_id if recorded.parent else None,
        recorded.name,
        _KINDS.get(recorded.kind, "internal"),
        str(resource.get("service.name", "")),
        str(resource.get("service.instance.id", "")),
        start,
        recorded.end_time or start,
        recorded.status.status_code is StatusCode.ERROR,
        tuple((recorded.attributes or {}).items()),
    )


class SpanRing(SpanProcessor):
    """The last ``size`` finished spans of one instance, oldest dropped first.

    It keeps each as :data:`SpanData` on ``on_end``, a tuple built and appended
    (no serialisation), so it costs next to nothing per span, holds no span
    alive, and leaves the collector nothing to walk; JSON is made when asked.
    """

    def __init__(self, size: int) -> None:
        self._spans: deque[SpanData] = deque(maxlen=size)

    def on_end(self, span: ReadableSpan) -> None:
        data = span_data(span)
        if data is not None:
            self._spans.append(data)

    def __len__(self) -> int:
        return len(self._spans)

    def find(self, trace_id: str | None = None, match: str | None = None) -> list[dict[str, Any]]:
        """Spans of one trace, or of every trace with a span whose attributes name ``match``.

        ``match`` is a request id, an order id or a trace id, as ``emporium trace`` takes.
        """
        spans = list(self._spans)
        wanted: set[int] = set()
        if trace_id:
            try:
                wanted.add(int(trace_id, 16))
            except ValueError:
                return []
        if match:
            key = match.lower()
            for recorded in spans:
                if f"{recorded[_TRACE_ID]:032x}" == key or any(
                    isinstance(value, str) and value.lower() == key
                    for _, value in recorded[_ATTRIBUTES]
                ):
                    wanted.add(recorded[_TRACE_ID])
        return [span_record(s) for s in spans if s[_TRACE_ID] in wanted]

    def recent_traces(self, limit: int = 20) -> list[str]:
        """Trace ids of the latest server spans with no parent (trace roots), newest first."""
        found: list[str] = []
        for recorded in reversed(self._spans):
            if recorded[_PARENT_ID] is None:
                tid = f"{recorded[_TRACE_ID]:032x}"
                if tid not in found:
                    found.append(tid)
                if len(found) >= limit:
                    break
        return found


def span_record(data: SpanData) -> dict[str, Any]:
    """A kept span as the JSON ``/internal/spans`` serves."""
    trace_id, span_id, parent_id, name, kind, service, instance, start, end, error, attrs = data
    return {
        "trace_id": f"{trace_id:032x}",
        "span_id": f"{span_id:016x}",
        "parent_id": f"{parent_id:016x}" if parent_id is not None else None,
        "name": name,
        "kind": kind,
        "service": service,
        "instance": instance,
        "start_ms": start / 1e6,
        "duration_ms": round((end - start) / 1e6, 3),
        "error": error,
        "attributes": dict(attrs),
    }


class Tracing:
    """One service instance's tracer, its span ring and (optionally) its OTLP export.

    Lifecycle: built by ``create_service``; :meth:`shutdown` flushes the OTLP
    exporter at stop. :func:`use_tracing` makes it the one chassis code uses
    in the current context (requests, the relay, consumers).
    """

    def __init__(
        self,
        service: str,
        instance: str,
        *,
        sample_ratio: float = 1.0,
        read_sample_ratio: float | None = None,
        buffer: int = 4096,
        otlp_endpoint: str = "",
    ) -> None:
        self.service = service
        self.instance = instance
        self.sample_ratio = sample_ratio
        self.read_sample_ratio = sample_ratio if read_sample_ratio is None else read_sample_ratio
        self.ring = SpanRing(buffer)
        # :func:`span` decides new traces and drops unsampled ones before the
        # SDK sees them; what reaches it is a root already chosen or a child of
        # a sampled span.
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": service, "service.instance.id": instance}),
            sampler=ParentBased(ALWAYS_ON),
        )
        self.provider.add_span_processor(self.ring)
        self.otlp_endpoint = otlp_endpoint
        self.otlp_exporter: SpanExporter | None = None
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            self.otlp_exporter = OTLPSpanExporter(endpoint=_traces_url(otlp_endpoint))
            self.provider.add_span_processor(BatchSpanProcessor(self.otlp_exporter))
        self.tracer = self.provider.get_tracer("emporium.chassis")

    def samples_new_trace(self, *, read: bool) -> bool:
        ratio = self.read_sample_ratio if read else self.sample_ratio
        return ratio >= 1.0 or random.random() < ratio

    def shutdown(self) -> None:
        self.provider.shutdown()


def _traces_url(endpoint: str) -> str:
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


def use_tracing(tracing: Tracing | None) -> None:
    """Make ``tracing`` current for this context and the tasks it starts from now on."""
    _current.set(tracing)


def current_tracing() -> Tracing | None:
    return _current.get()


def parent_context(traceparent: str | None) -> Any:
    """The OTel context whose remote parent is ``traceparent`` (None: a new trace)."""
    if traceparent is None:
        return None
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        parent = SpanContext(
            trace_id=int(parts[1], 16),
            span_id=int(parts[2], 16),
            is_remote=True,
            trace_flags=TraceFlags(int(parts[3][:2], 16) & 1),
        )
    except ValueError:
        return None
    if not parent.is_valid:
        return None
    return trace.set_span_in_context(NonRecordingSpan(parent))


def traceparent_of(current: Span) -> str:
    ctx = current.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


@contextmanager
def span(
    name: str,
    kind: SpanKind,
    *,
    parent: str | None = None,
    remote_parent: bool = False,
    read: bool = False,
    attributes: Mapping[str, str | int | float | bool] | None = None,
) -> Iterator[Span | None]:
    """A span of the current service around the block, current while it runs.

    ``remote_parent``: start from ``parent`` (a traceparent from headers or an
    outbox row) instead of the span already current. While the block runs,
    ``context.traceparent`` names this span, so what the block sends carries it.
    ``read``: if this starts a trace, it is a read (GET/HEAD), sampled at the
    read ratio. Yields ``None`` when nothing is recorded (tracing off, or the
    trace not sampled); a block's traceparent still moves on in the same trace.
    """
    tracing = _current.get()
    if tracing is None or not _sampled(tracing, parent, remote_parent=remote_parent, read=read):
        if remote_parent:
            token = context.traceparent.set(_next_traceparent(parent, sampled=tracing is None))
            try:
                yield None
            finally:
                context.traceparent.reset(token)
        else:
            yield None
        return
    ctx = parent_context(parent) if remote_parent else None
    # start_span + attach by hand rather than start_as_current_span: the same
    # result without three nested generator context managers on every span.
    current = tracing.tracer.start_span(name, context=ctx, kind=kind, attributes=attributes)
    otel_token = otel_context.attach(trace.set_span_in_context(current))
    token = context.traceparent.set(traceparent_of(current))
    try:
        yield current
    except BaseException as exc:
        current.record_exception(exc)
        current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        context.traceparent.reset(token)
        otel_context.detach(otel_token)
        current.end()


def _sampled(tracing: Tracing, parent: str | None, *, remote_parent: bool, read: bool) -> bool:
    """Whether this span is recorded: its parent's decision, or a new one for a new trace."""
    if remote_parent:
        flags = _flags(parent)
        return tracing.samples_new_trace(read=read) if flags is None else bool(flags & 1)
    if trace.get_current_span().is_recording():
        return True
    # No recorded span is current: inside an unsampled request or message (its
    # traceparent says so), or outside any (a worker's call starts a trace).
    flags = _flags(context.traceparent.get())
    if flags is not None and not flags & 1:
        return False
    return tracing.samples_new_trace(read=read)


def _flags(traceparent: str | None) -> int | None:
    """The trace flags of a well-formed traceparent, else None."""
    if traceparent is None or len(traceparent) != 55 or traceparent[2] != "-":
        return None
    try:
        return int(traceparent[53:55], 16)
    except ValueError:
        return None


def mark_error(current: Span | None, description: str) -> None:
    if current is not None:
        current.set_status(Status(StatusCode.ERROR, description))


def _next_traceparent(parent: str | None, *, sampled: bool) -> str:
    """The same trace with a new span id; a new trace (flagged ``sampled``) without a parent."""
    if parent is not None:
        parts = parent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32 and len(parts[2]) == 16:
            return f"{parts[0]}-{parts[1]}-{secrets.token_hex(8)}-{parts[3]}"
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{'01' if sampled else '00'}"
