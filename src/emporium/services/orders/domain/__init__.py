"""Orders' rules: the Order aggregate with its saga, and the card's shape. No I/O."""

from emporium.services.orders.domain import messages
from emporium.services.orders.domain.card import Card, InvalidCardError, luhn_valid
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
    "Card",
    "HistoryEntry",
    "InvalidCardError",
    "Order",
    "OrderLine",
    "Reason",
    "Status",
    "Step",
    "luhn_valid",
    "messages",
]
