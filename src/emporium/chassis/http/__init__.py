"""The resilient outbound HTTP client every service uses to call another.

One :class:`ServiceClient` per upstream, over one shared aiohttp keep-alive
pool per process: timeouts, retries of idempotent requests with jittered
exponential backoff, a circuit breaker and a bulkhead per upstream, request-id, trace context and
deadline propagation, and Prometheus metrics. See docs/decisions/0004-http-client.md.

    async with ServiceClient("http://127.0.0.1:8101", name="catalog") as catalog:
        product = (await catalog.get(f"/products/{product_id}")).json()
"""

from emporium.chassis.http._breaker import BreakerState, CircuitBreaker, Permit
from emporium.chassis.http._bulkhead import Bulkhead
from emporium.chassis.http._client import DEFAULT_TIMEOUT, ServiceClient
from emporium.chassis.http._errors import (
    UpstreamError,
    UpstreamFailure,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from emporium.chassis.http._metrics import ClientMetrics
from emporium.chassis.http._response import Response
from emporium.chassis.http._retry import (
    IDEMPOTENT_METHODS,
    NO_RETRIES,
    RetryPolicy,
    parse_retry_after,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "NO_RETRIES",
    "BreakerState",
    "Bulkhead",
    "CircuitBreaker",
    "ClientMetrics",
    "Permit",
    "Response",
    "RetryPolicy",
    "ServiceClient",
    "UpstreamError",
    "UpstreamFailure",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "parse_retry_after",
]
