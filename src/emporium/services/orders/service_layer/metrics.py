"""Orders' own Prometheus metrics: the saga backlog checkout admits against."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from emporium.services.orders.service_layer.admission import SagaBacklog

__all__ = ["BACKLOG_REJECTED", "observe_backlog"]

_PENDING = Gauge("emporium_orders_sagas_pending", "Orders PENDING (every instance's), last probe")
_ALLOWED = Gauge(
    "emporium_orders_sagas_allowed", "Pending sagas checkout admits up to (throughput x budget)"
)
_THROUGHPUT = Gauge("emporium_orders_sagas_settled_per_second", "Sagas finished per second, lately")
BACKLOG_REJECTED = Counter(
    "emporium_orders_checkout_backlog_rejected_total",
    "Checkouts refused with 503 (nothing created) because the saga backlog was full",
)


def observe_backlog(admission: SagaBacklog) -> None:
    _PENDING.set(admission.pending)
    _ALLOWED.set(admission.allowed)
    _THROUGHPUT.set(admission.throughput)
