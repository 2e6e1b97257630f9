"""Payments' use cases, each one unit of work: load and lock, apply the rules, publish."""

from emporium.services.payments.service_layer.services import PaymentsService, integration_event
from emporium.services.payments.service_layer.unit_of_work import (
    PaymentsUnitOfWork,
    SqlPaymentsUnitOfWork,
)

__all__ = ["PaymentsService", "PaymentsUnitOfWork", "SqlPaymentsUnitOfWork", "integration_event"]
