"""Prometheus metrics of the messaging chassis (one set per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "CONSUMER_LAG",
    "MESSAGES_CONSUMED",
    "MESSAGES_DEAD_LETTERED",
    "MESSAGES_DUPLICATE",
    "MESSAGES_FAILED",
    "MESSAGES_PUBLISHED",
    "MESSAGES_RETRIED",
    "OUTBOX_BACKLOG",
    "OUTBOX_OLDEST_AGE",
    "RELAY_PUBLISHED",
]

MESSAGES_PUBLISHED = Counter(
    "emporium_messages_published_total",
    "Messages the outbox relay published, by service and message type.",
    ["service", "type"],
)
MESSAGES_RETRIED = Counter(
    "emporium_messages_retried_total",
    "Deliveries handed back to the broker for a later retry.",
    ["consumer"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "emporium_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row (0 when the outbox is empty).",
    ["service"],
)
CONSUMER_LAG = Gauge(
    "emporium_consumer_lag",
    "Messages waiting for a consumer (NATS num_pending, RabbitMQ queue depth).",
    ["consumer"],
)

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
