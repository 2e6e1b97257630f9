"""Orders' use cases: placing and cancelling orders, the saga's replies and deadlines."""

from emporium.services.orders.service_layer.checkout import (
    MAX_KEY,
    Checkout,
    CheckoutRefusedError,
    Participants,
    PlaceOrder,
    UnknownOrderError,
)
from emporium.services.orders.service_layer.saga import Saga
from emporium.services.orders.service_layer.unit_of_work import (
    OrdersUnitOfWork,
    SqlOrdersUnitOfWork,
)
from emporium.services.orders.service_layer.watch import OrderWatch

__all__ = [
    "MAX_KEY",
    "Checkout",
    "CheckoutRefusedError",
    "OrderWatch",
    "OrdersUnitOfWork",
    "Participants",
    "PlaceOrder",
    "Saga",
    "SqlOrdersUnitOfWork",
    "UnknownOrderError",
]
