"""Orders' use cases: placing and cancelling orders, the saga's replies, the deadline sweeper."""

from emporium.services.orders.service_layer.checkout import (
    Checkout,
    CheckoutRefusedError,
    PlaceOrder,
    UnknownOrderError,
)
from emporium.services.orders.service_layer.publishing import utcnow
from emporium.services.orders.service_layer.saga import Saga
from emporium.services.orders.service_layer.sweeper import DeadlineSweeper

__all__ = [
    "Checkout",
    "CheckoutRefusedError",
    "DeadlineSweeper",
    "PlaceOrder",
    "Saga",
    "UnknownOrderError",
    "utcnow",
]
