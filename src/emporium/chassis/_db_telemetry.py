"""Database spans and pool gauges, from SQLAlchemy's own events.

A span per statement (``db.system``, the statement's first word as its name,
never its parameters, which may hold personal data), child of whatever span
is current (a request, a consumer). The pool gauge reads the pool's counters
when Prometheus scrapes, so it costs nothing between scrapes.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from prometheus_client import Gauge
from sqlalchemy import event
from sqlalchemy.engine import Engine

from emporium.chassis.tracing import SpanKind, current_tracing, mark_error

__all__ = ["DB_POOL_IN_USE", "instrument_engine"]

DB_POOL_IN_USE = Gauge(
    "emporium_db_pool_connections",
    "Database connections of the pool, by state (in_use, idle)",
    ["service", "state"],
)

_SPAN_KEY = "emporium.span"


def instrument_engine(engine: Engine, service: str) -> None:
    """Trace every statement on ``engine`` and expose its pool as gauges."""
    system = engine.dialect.name

    def before(_conn: Any, _cursor: Any, statement: str, _p: Any, ctx: Any, _many: bool) -> None:
        tracing = current_tracing()
        # Only inside a recorded span (a request, a message): the relay's and
        # sweepers' polls would otherwise start a trace per statement and push
        # every real trace out of the ring.
        if tracing is None or ctx is None or not trace.get_current_span().is_recording():
            return
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        started = tracing.tracer.start_span(
            f"{verb} {system}",
            kind=SpanKind.CLIENT,
            attributes={"db.system": system, "db.operation.name": verb},
        )
        ctx._emporium_span = started

    def after(_conn: Any, _cursor: Any, _s: str, _p: Any, ctx: Any, _many: bool) -> None:
        started = getattr(ctx, "_emporium_span", None)
        if started is not None:
            started.end()

    def failed(exception_context: Any) -> None:
        ctx = exception_context.execution_context
        started = getattr(ctx, "_emporium_span", None) if ctx is not None else None
        if started is not None:
            mark_error(started, type(exception_context.original_exception).__name__)
            started.end()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)

    pool = engine.pool
    checked_out = getattr(pool, "checkedout", None)
    checked_in = getattr(pool, "checkedin", None)
    if callable(checked_out) and callable(checked_in):
        DB_POOL_IN_USE.labels(service, "in_use").set_function(lambda: float(checked_out()))
        DB_POOL_IN_USE.labels(service, "idle").set_function(lambda: float(checked_in()))
