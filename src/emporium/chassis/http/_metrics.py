"""Prometheus metrics of outbound calls, one set per registry.

``status_class`` is ``1xx``..``5xx`` for answers, or ``timeout``,
``connection_error``, ``circuit_open``, ``bulkhead_full`` or ``deadline`` when
there was no answer (the last three count calls refused before reaching the
network: an open breaker, a full bulkhead, no time left).
"""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ClientMetrics", "default_metrics"]

# Service-to-service calls on one host take milliseconds; the tail reaches the timeout.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ClientMetrics:
    """The outbound HTTP metrics, registered once in ``registry``."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.requests = Counter(
            "emporium_http_client_requests",
            "Outbound HTTP attempts by upstream, method and status class.",
            ["upstream", "method", "status_class"],
            registry=registry,
        )
        self.latency = Histogram(
            "emporium_http_client_request_duration_seconds",
            "Duration of one outbound HTTP attempt, body read included.",
            ["upstream"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.breaker_state = Gauge(
            "emporium_http_client_breaker_state",
            "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
            ["upstream"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "emporium_http_client_in_flight",
            "Outbound calls in progress per upstream (the bulkhead counts these).",
            ["upstream"],
            registry=registry,
        )
        self.retries = Counter(
            "emporium_http_client_retries",
            "Outbound HTTP retries by upstream and the reason of the retried attempt.",
            ["upstream", "reason"],
            registry=registry,
        )


_default: ClientMetrics | None = None
_default_lock = threading.Lock()


def default_metrics() -> ClientMetrics:
    """The process-wide metrics in prometheus-client's default registry (created once)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ClientMetrics()
        return _default
