"""Orders' rules: the Order aggregate with its saga. No I/O.

The card's rules are payments' (``emporium.services.payments.domain.cards``):
orders asks payments through its tokenization API and relays the answer.
"""

from emporium.services.orders.domain import events
from emporium.services.orders.domain.model import (
    CannotCancelError,
    HistoryEntry,
    Order,
    OrderLine,
    Reason,
    Status,
    Step,
)

__all__ = [
    "CannotCancelError",
    "HistoryEntry",
    "Order",
    "OrderLine",
    "Reason",
    "Status",
    "Step",
    "events",
]
