"""Prometheus metrics every service exposes at ``GET /metrics``.

Request rate, errors and latency per route template (``/api/catalog/products/{product_id}``,
never the raw path, so cardinality stays bounded).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["REQUESTS", "REQUEST_LATENCY", "metrics_endpoint"]

REQUESTS = Counter(
    "emporium_http_requests_total",
    "HTTP requests handled, by route and status code",
    ["service", "instance", "method", "route", "status"],
)
REQUEST_LATENCY = Histogram(
    "emporium_http_request_duration_seconds",
    "Time to handle an HTTP request, by route",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


async def metrics_endpoint(_request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
