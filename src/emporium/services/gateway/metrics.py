"""The gateway's own Prometheus metrics, next to the chassis' per-route ones.

Labels are service and instance names from discovery, never paths, so
cardinality stays bounded by the number of instances.

They name every instance, so the public port does not serve them:
:class:`MetricsListener` serves the whole registry on a separate port
(``EMPORIUM_GATEWAY_METRICS_PORT``) that only Prometheus is let reach.
"""

from __future__ import annotations

import asyncio
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "BUDGET_REJECTED",
    "BULKHEAD_IN_FLIGHT",
    "BULKHEAD_REJECTED",
    "CACHE_LOOKUPS",
    "EJECTIONS",
    "INSTANCE_HEALTHY",
    "UPSTREAM_LATENCY",
    "UPSTREAM_REQUESTS",
    "MetricsListener",
]

UPSTREAM_REQUESTS = Counter(
    "emporium_gateway_upstream_requests_total",
    "Requests the gateway sent upstream, by instance and outcome (2xx..5xx, error, timeout)",
    ["service", "instance", "status_class"],
)
UPSTREAM_LATENCY = Histogram(
    "emporium_gateway_upstream_latency_seconds",
    "Time from sending a request upstream to its response headers",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
CACHE_LOOKUPS = Counter(
    "emporium_gateway_cache_lookups_total",
    "Catalog reads the gateway looked up in its cache of catalog's answers, by result",
    ["result"],
)
BUDGET_REJECTED = Counter(
    "emporium_gateway_budget_rejected_total",
    "Requests the gateway refused for a service whose reported budget had no room",
    ["service"],
)
INSTANCE_HEALTHY = Gauge(
    "emporium_gateway_instance_healthy",
    "1 while the instance's /health/ready passes, else 0",
    ["service", "instance"],
)
BULKHEAD_IN_FLIGHT = Gauge(
    "emporium_gateway_upstream_in_flight",
    "Requests in progress to a service, counted against its bulkhead",
    ["service"],
)
BULKHEAD_REJECTED = Counter(
    "emporium_gateway_bulkhead_rejected_total",
    "Requests refused with 503 because the service's bulkhead was full",
    ["service"],
)
EJECTIONS = Counter(
    "emporium_gateway_ejections_total",
    "Instances ejected by passive outlier detection, by reason (connect, 5xx)",
    ["service", "instance", "reason"],
)


class MetricsListener:
    """A component: Prometheus' text format on ``host:port``, in a daemon thread."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        self._server, self._thread = start_http_server(self.port, addr=self.host)
        self.port = int(self._server.server_address[1])

    async def stop(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()

    async def ready(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
