"""The gateway's own Prometheus metrics, next to the chassis' per-route ones.

Labels are service and instance names from discovery, never paths, so
cardinality stays bounded by the number of instances.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["EJECTIONS", "INSTANCE_HEALTHY", "UPSTREAM_LATENCY", "UPSTREAM_REQUESTS"]

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
INSTANCE_HEALTHY = Gauge(
    "emporium_gateway_instance_healthy",
    "1 while the instance's /health/ready passes, else 0",
    ["service", "instance"],
)
EJECTIONS = Counter(
    "emporium_gateway_ejections_total",
    "Instances ejected by passive outlier detection, by reason (connect, 5xx)",
    ["service", "instance", "reason"],
)
