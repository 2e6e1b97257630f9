"""The cart aggregate: lines with snapshot prices, totals, and what may be checked out.

Plain data and rules, no I/O. Prices are integer minor units in one currency;
times are epoch milliseconds so both stores (SQL and Redis) hold them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID

__all__ = [
    "CURRENCY",
    "MAX_QUANTITY",
    "Cart",
    "CartLine",
    "InvalidQuantityError",
    "WrongCurrencyError",
    "check_currency",
    "check_quantity",
]

CURRENCY = "USD"
MAX_QUANTITY = 99


class InvalidQuantityError(ValueError):
    """A quantity outside 0..MAX_QUANTITY (0 means "remove the line")."""


def check_quantity(quantity: int) -> int:
    if not 0 <= quantity <= MAX_QUANTITY:
        raise InvalidQuantityError(f"quantity must be between 0 and {MAX_QUANTITY}, got {quantity}")
    return quantity


class WrongCurrencyError(ValueError):
    """A product priced in another currency than the cart's."""


def check_currency(currency: str) -> str:
    """A product enters the cart only at a price in the cart's currency.

    A line already in the cart may later be repriced into another currency by a
    ``PriceChanged``; it stays, but blocks checkout (:attr:`Cart.checkout_ready`).
    """
    if currency != CURRENCY:
        raise WrongCurrencyError(f"The cart holds {CURRENCY} prices; this product is in {currency}")
    return currency


@dataclass(frozen=True, slots=True)
class CartLine:
    """One product in a cart, with the name, SKU and price it had when last seen.

    ``price_as_of`` is the time (epoch ms) of the last ``PriceChanged`` applied
    to this line, 0 if none: a price event older than that is a reordered
    redelivery and must not roll the price back. ``available`` turns false when
    the product is deleted; the line stays visible but blocks checkout.
    """

    product_id: UUID
    sku: str
    name: str
    quantity: int
    unit_price: int
    currency: str = CURRENCY
    available: bool = True
    price_as_of: int = 0
    added_at: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.quantity <= MAX_QUANTITY:
            raise InvalidQuantityError(
                f"a cart line holds 1 to {MAX_QUANTITY} units, got {self.quantity}"
            )
        if self.unit_price < 0:
            raise ValueError("a price cannot be negative")

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity

    def repriced(self, unit_price: int, currency: str, as_of: int) -> CartLine:
        """The line at a new price, unless a newer price was applied already."""
        if as_of < self.price_as_of:
            return self
        return replace(self, unit_price=unit_price, currency=currency, price_as_of=as_of)

    def withdrawn(self) -> CartLine:
        return replace(self, available=False)


@dataclass(frozen=True, slots=True)
class Cart:
    """A user's lines, oldest first; totals are computed here, never by clients."""

    user_id: UUID
    lines: tuple[CartLine, ...] = ()

    @classmethod
    def of(cls, user_id: UUID, lines: list[CartLine] | tuple[CartLine, ...]) -> Cart:
        ordered = sorted(lines, key=lambda line: (line.added_at, str(line.product_id)))
        return cls(user_id, tuple(ordered))

    @property
    def currency(self) -> str:
        return CURRENCY

    @property
    def total(self) -> int:
        return sum(line.line_total for line in self.lines)

    @property
    def checkout_ready(self) -> bool:
        """Something to buy, and every line still for sale in the cart's currency."""
        return bool(self.lines) and all(
            line.available and line.currency == self.currency for line in self.lines
        )

    def line(self, product_id: UUID) -> CartLine | None:
        return next((line for line in self.lines if line.product_id == product_id), None)
