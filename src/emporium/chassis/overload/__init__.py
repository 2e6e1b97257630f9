"""Overload control: an adaptive concurrency limit and deadlines, as one middleware.

A service names the routes to guard (``create_service(admission=...)``); the
chassis answers what it cannot take with an immediate 503 + ``Retry-After``
and what is already too late with 504, never queueing. The limit adapts to
latency (:class:`GradientLimit`); see docs/decisions/0021-overload-and-deadlines.md.
The deadline itself lives in :mod:`emporium.chassis.deadline`, bounded
concurrency per upstream in :class:`emporium.chassis.http.Bulkhead`.
"""

from emporium.chassis.overload._limit import GradientLimit, LimitSettings
from emporium.chassis.overload._limiter import AdaptiveLimiter, Ticket
from emporium.chassis.overload._middleware import (
    EXEMPT_PREFIXES,
    AdmissionMiddleware,
    Partition,
    routes,
)

__all__ = [
    "EXEMPT_PREFIXES",
    "AdaptiveLimiter",
    "AdmissionMiddleware",
    "GradientLimit",
    "LimitSettings",
    "Partition",
    "Ticket",
    "routes",
]
