"""Payments' use cases, each one unit of work: load and lock, apply the rules, publish."""

from emporium.services.payments.service_layer.services import (
    PaymentsService,
    Publisher,
    integration_event,
    utcnow,
)

__all__ = ["PaymentsService", "Publisher", "integration_event", "utcnow"]
