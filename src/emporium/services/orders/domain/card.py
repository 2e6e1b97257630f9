"""The shape of a payment card, checked before anything is sent anywhere.

Only the shape: whether the card is good is payments' business. Nothing here
keeps or prints the number or the CVC; errors name the field, never its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_DIGITS = re.compile(r"^[0-9]{12,19}$")
_CVC = re.compile(r"^[0-9]{3,4}$")


class InvalidCardError(ValueError):
    """The card's shape is wrong; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


@dataclass(frozen=True, repr=False)
class Card:
    """A card as typed at checkout. ``repr`` hides the number and CVC."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    def __repr__(self) -> str:
        return f"Card(****{self.number[-4:]}, {self.exp_month:02d}/{self.exp_year})"

    def validate(self, today: date) -> None:
        """Raise :class:`InvalidCardError` unless the number, expiry and CVC look right."""
        if not _DIGITS.match(self.number):
            raise InvalidCardError("number", "the card number must be 12 to 19 digits")
        if not luhn_valid(self.number):
            raise InvalidCardError("number", "the card number is not valid (checksum)")
        if not 1 <= self.exp_month <= 12:
            raise InvalidCardError("exp_month", "the expiry month must be 1 to 12")
        if (self.exp_year, self.exp_month) < (today.year, today.month):
            raise InvalidCardError("exp_year", "the card has expired")
        if self.exp_year > today.year + 50:
            raise InvalidCardError("exp_year", "the expiry year is too far in the future")
        if not _CVC.match(self.cvc):
            raise InvalidCardError("cvc", "the CVC must be 3 or 4 digits")
