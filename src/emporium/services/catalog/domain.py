"""Catalog's rules, plain Python: when a product's change is news to other services.

Catalog is a CRUD service and stays flat; this module holds the one rule its
events depend on, so it is written once and tested without a store or a web app.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Price", "repriced"]


@dataclass(frozen=True, slots=True)
class Price:
    """A price in integer minor units of ``currency``."""

    amount: int
    currency: str


def repriced(current: Price, requested: Price) -> Price | None:
    """The price to set and announce, or ``None`` when nothing really changes.

    ``PriceChanged`` is published only on a real change: carts reprice their
    lines on it, and an admin re-sending the same price must not make every
    cart holding the product rewrite its line.
    """
    return None if requested == current else requested
