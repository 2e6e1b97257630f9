"""Orders' use cases: placing and cancelling orders, the saga's replies and deadlines."""

from emporium.services.orders.service_layer.checkout import (
    Checkout,
    CheckoutRefusedError,
    PlaceOrder,
    UnknownOrderError,
)
from emporium.services.orders.service_layer.publishing import utcnow
from emporium.services.orders.service_layer.saga import Saga

__all__ = [
    "Checkout",
    "CheckoutRefusedError",
    "PlaceOrder",
    "Saga",
    "UnknownOrderError",
    "utcnow",
]
