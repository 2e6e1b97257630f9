"""Prometheus metrics of admission control, next to the chassis' per-route ones.

``partition`` is a name the service chose for a group of routes (``checkout``,
or the upstream service at the gateway), never a path, so cardinality stays small.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["IN_FLIGHT", "LIMIT", "REJECTED"]

LIMIT = Gauge(
    "emporium_overload_limit",
    "Current adaptive concurrency limit, by partition of routes",
    ["service", "partition"],
)
IN_FLIGHT = Gauge(
    "emporium_overload_in_flight",
    "Requests in progress under the adaptive limit, by partition",
    ["service", "partition"],
)
REJECTED = Counter(
    "emporium_overload_rejected_total",
    "Requests refused before any work: over the limit (503) or past their deadline (504)",
    ["service", "partition", "reason"],
)
