"""Card rules of the simulated processor: Luhn, brand, expiry, CVC and test cards.

The only code that ever sees a full card number. :class:`Card` hides the number
and CVC from ``repr`` so that no log line or traceback can carry them, and
nothing here returns more of the number than its brand and last four digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class CardError(ValueError):
    """A card refused at tokenization; ``field`` names the input, the message never
    repeats the number or the CVC."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Outcome(StrEnum):
    """What the simulator will answer when this card is authorized later."""

    APPROVE = "approve"
    CARD_DECLINED = "card_declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"


# The documented test cards (docs/api.md); any other Luhn-valid number approves.
_TEST_CARDS = {
    "4000000000000002": Outcome.CARD_DECLINED,
    "4000000000009995": Outcome.INSUFFICIENT_FUNDS,
}


@dataclass(frozen=True)
class Card:
    """Card details as typed by the customer, held only while tokenizing."""

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)

    @property
    def digits(self) -> str:
        return "".join(ch for ch in self.number if ch not in " -")

    @property
    def last4(self) -> str:
        return self.digits[-4:]

    @property
    def brand(self) -> str:
        return brand_of(self.digits)

    @property
    def outcome(self) -> Outcome:
        return _TEST_CARDS.get(self.digits, Outcome.APPROVE)

    def validate(self, today: date) -> None:
        """Raise :class:`CardError` for the first rule the card breaks.

        The message is written for the shopper: the storefront shows it beside
        the field it names, so card rules and their wording live here only.
        """
        digits = self.digits
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            raise CardError("number", "enter the 12 to 19 digits of the card number")
        if not luhn_valid(digits):
            raise CardError("number", "this card number is not valid: check the digits")
        if not 1 <= self.exp_month <= 12:
            raise CardError("exp_month", "enter the expiry month, 1 to 12")
        if not 2000 <= self.exp_year <= 2100:
            raise CardError("exp_year", "enter the four-digit expiry year")
        if expired(self.exp_month, self.exp_year, today):
            raise CardError("exp_year", "this card has expired")
        length = 4 if self.brand == "amex" else 3
        if not (self.cvc.isdigit() and self.cvc.isascii() and len(self.cvc) == length):
            raise CardError("cvc", f"enter the {length}-digit security code of this card")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) checksum every card number carries."""
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def brand_of(digits: str) -> str:
    """The card network from the number's prefix (IIN ranges), or ``unknown``."""
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in {"34", "37"}:
        return "amex"
    if digits[:2].isdigit() and (
        51 <= int(digits[:2]) <= 55 or (digits[:4].isdigit() and 2221 <= int(digits[:4]) <= 2720)
    ):
        return "mastercard"
    if digits.startswith(("6011", "65")):
        return "discover"
    return "unknown"


def expired(exp_month: int, exp_year: int, today: date) -> bool:
    """A card is good through the last day of its expiry month."""
    return (exp_year, exp_month) < (today.year, today.month)
