"""Each service's handler table, built with stand-ins for what its handlers close over."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from emporium.chassis.messaging import Outbox
from emporium.services.cart.messages import message_handlers as cart
from emporium.services.inventory.entrypoints.messages import message_handlers as inventory
from emporium.services.notifications.messages import message_handlers as notifications
from emporium.services.orders.entrypoints.messages import message_handlers as orders
from emporium.services.payments.entrypoints.messages import message_handlers as payments
from emporium.services.recommendations.messages import message_handlers as recommendations
from emporium.services.shipping.messages import message_handlers as shipping


class _StandIn:
    """Answers any attribute with a callable: the tables only take bound methods."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def consumed_types() -> dict[str, set[str]]:
    """For each service that consumes, the wire types of its handler table."""
    anything: Any = _StandIn()
    tables = {
        "cart": cart(anything),
        "inventory": inventory(anything),
        "notifications": notifications(),
        "orders": orders(anything),
        "payments": payments(anything),
        "recommendations": recommendations(anything),
        "shipping": shipping(Outbox(), delay=timedelta(seconds=1)),
    }
    return {service: {t.type for t in table} for service, table in tables.items()}
