"""Prometheus metrics of the messaging chassis (one set per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "MESSAGES_CONSUMED",
    "MESSAGES_DEAD_LETTERED",
    "MESSAGES_DUPLICATE",
    "MESSAGES_FAILED",
    "OUTBOX_BACKLOG",
    "RELAY_PUBLISHED",
]

MESSAGES_CONSUMED = Counter(
    "emporium_messages_consumed_total",
    "Messages whose handler ran and committed.",
    ["consumer"],
)
MESSAGES_DUPLICATE = Counter(
    "emporium_messages_duplicate_total",
    "Messages acknowledged without running the handler (already in the inbox).",
    ["consumer"],
)
MESSAGES_FAILED = Counter(
    "emporium_messages_failed_total",
    "Handler attempts that raised (each is retried or dead-lettered).",
    ["consumer"],
)
MESSAGES_DEAD_LETTERED = Counter(
    "emporium_messages_dead_lettered_total",
    "Messages moved to the dead-letter stream or queue.",
    ["consumer"],
)
OUTBOX_BACKLOG = Gauge(
    "emporium_outbox_backlog",
    "Outbox rows not yet published, as last seen by the relay.",
    ["service"],
)
RELAY_PUBLISHED = Counter(
    "emporium_relay_published_total",
    "Outbox rows published to the broker by the relay.",
    ["service"],
)
