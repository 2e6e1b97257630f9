"""Overload control: an adaptive concurrency limit and deadlines, as one middleware.

A service names the routes to guard (``create_service(admission=...)``); the
chassis answers what it cannot take with an immediate 503 + ``Retry-After``
and what is already too late with 504, never queueing. The limit adapts to
latency (:class:`GradientLimit`); see docs/decisions/0021-overload-and-deadlines.md.
A service may also report a budget of its own (:class:`Budget`) so that the
gateway refuses on its behalf.
The deadline itself lives in :mod:`emporium.chassis.deadline`, bounded
concurrency per upstream in :class:`emporium.chassis.http.Bulkhead`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emporium._lazy import exports_of, lazy
from emporium.chassis.overload._budget import BUDGET, BUDGET_PATH, Budget, BudgetReport
from emporium.chassis.overload._limit import GradientLimit, LimitSettings
from emporium.chassis.overload._limiter import AdaptiveLimiter, Ticket

if TYPE_CHECKING:  # the middleware (and FastAPI) only when a service asks for it
    from emporium.chassis.overload._middleware import (
        EXEMPT_PREFIXES,
        AdmissionMiddleware,
        Partition,
        routes,
    )

__getattr__ = lazy(
    __name__,
    exports_of(
        "emporium.chassis.overload._middleware",
        ["EXEMPT_PREFIXES", "AdmissionMiddleware", "Partition", "routes"],
    ),
)

__all__ = [
    "BUDGET",
    "BUDGET_PATH",
    "EXEMPT_PREFIXES",
    "AdaptiveLimiter",
    "AdmissionMiddleware",
    "Budget",
    "BudgetReport",
    "GradientLimit",
    "LimitSettings",
    "Partition",
    "Ticket",
    "routes",
]
