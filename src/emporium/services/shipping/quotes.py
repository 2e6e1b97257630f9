"""Shipping rates: what a delivery to a country costs, by carrier and item count.

Pure and deterministic: orders charges exactly the amount quoted during
checkout, so the same country and items must always give the same quote.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RATES", "Quote", "Rate", "UnsupportedCountryError", "quote", "rate_for"]


@dataclass(frozen=True)
class Rate:
    """One zone's tariff: ``base + per_item * items``, free from ``free_from_items``."""

    zone: str
    carrier: str
    eta_days: int
    base: int
    per_item: int
    free_from_items: int | None = None

    def price(self, items: int) -> int:
        if items < 1:
            raise ValueError("a quote needs at least one item")
        if self.free_from_items is not None and items >= self.free_from_items:
            return 0
        return self.base + self.per_item * items


@dataclass(frozen=True)
class Quote:
    """An amount in USD cents, the carrier that will take the parcel and its ETA."""

    amount: int
    carrier: str
    eta_days: int
    zone: str


DOMESTIC = Rate("domestic", "Emporium Post", 3, base=499, per_item=99, free_from_items=10)
NORTH_AMERICA = Rate("north-america", "Emporium Global", 6, base=1299, per_item=249)
EUROPE = Rate("europe", "Emporium Global", 8, base=1599, per_item=299)
WORLD = Rate("world", "Emporium Global", 12, base=2499, per_item=399)

_ZONES: dict[Rate, str] = {
    DOMESTIC: "US",
    NORTH_AMERICA: "CA MX",
    EUROPE: "AT BE CH CZ DE DK ES FI FR GB GR IE IS IT LU NL NO PL PT SE",
    WORLD: "AE AR AU BR CL IL IN JP KR NZ SG TW ZA",
}

RATES: dict[str, Rate] = {
    country: rate for rate, countries in _ZONES.items() for country in countries.split()
}
"""Every country Emporium ships to (ISO 3166-1 alpha-2) and its rate."""


class UnsupportedCountryError(ValueError):
    """Not a country Emporium ships to (or not an ISO 3166-1 alpha-2 code at all)."""

    def __init__(self, country: str) -> None:
        super().__init__(
            f"we do not ship to {country!r}; supported countries: {', '.join(sorted(RATES))}"
        )
        self.country = country


def rate_for(country: str) -> Rate:
    try:
        return RATES[country]
    except KeyError:
        raise UnsupportedCountryError(country) from None


def quote(country: str, items: int) -> Quote:
    """The price of shipping ``items`` units to ``country``."""
    rate = rate_for(country)
    return Quote(rate.price(items), rate.carrier, rate.eta_days, rate.zone)
