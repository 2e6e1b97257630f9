"""Posted forms: reading them, the CSRF check every one passes, and field rules.

Validation answers with messages per field (``{"card_number": "..."}``) so a
page can show each next to the input it concerns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from emporium.services.storefront.session import session_of

__all__ = [
    "COUNTRIES",
    "CheckoutForm",
    "CsrfRejected",
    "Form",
    "PostedForm",
    "parse_price",
    "read_form",
]

MAX_FORM_BYTES = 64 * 1024

# Where shipping delivers (its public quote rules), with names a shopper reads.
COUNTRIES: dict[str, str] = {
    "US": "United States",
    "CA": "Canada",
    "MX": "Mexico",
    "GB": "United Kingdom",
    "IE": "Ireland",
    "FR": "France",
    "DE": "Germany",
    "NL": "Netherlands",
    "BE": "Belgium",
    "ES": "Spain",
    "IT": "Italy",
    "PT": "Portugal",
    "SE": "Sweden",
    "NO": "Norway",
    "DK": "Denmark",
    "FI": "Finland",
    "CH": "Switzerland",
    "AT": "Austria",
    "PL": "Poland",
    "AU": "Australia",
    "NZ": "New Zealand",
    "JP": "Japan",
    "SG": "Singapore",
}


class CsrfRejected(Exception):
    """A state-changing form arrived without this session's CSRF token."""


@dataclass(frozen=True)
class Form:
    """A posted ``application/x-www-form-urlencoded`` body; absent fields read as ``""``."""

    fields: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.fields.get(name, "").strip()

    def raw(self, name: str) -> str:
        return self.fields.get(name, "")


async def read_form(request: Request) -> Form:
    # Our own forms are urlencoded and small; parsing them needs no multipart library.
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise CsrfRejected("form too large")
    pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return Form(dict(pairs))


async def _checked_form(request: Request) -> Form:
    form = await read_form(request)
    token = form.raw("csrf_token") or request.headers.get("x-csrf-token", "")
    if not session_of(request).csrf_matches(token):
        raise CsrfRejected("missing or wrong CSRF token")
    return form


# Every POST route takes its form through this: no state change without the token.
PostedForm = Annotated[Form, Depends(_checked_form)]


_PRICE = re.compile(r"^\d{1,7}(?:\.\d{1,2})?$")


def parse_price(text: str) -> int | None:
    """``"12.5"`` → 1250 minor units; None if it is not a positive amount."""
    text = text.strip().lstrip("$").strip()
    if not _PRICE.fullmatch(text):
        return None
    whole, _, cents = text.partition(".")
    amount = int(whole) * 100 + int(cents.ljust(2, "0") or 0)
    return amount if amount > 0 else None


@dataclass
class CheckoutForm:
    """The checkout form's fields, checked the way orders will check them.

    Checking here first lets the page point at the field at once; orders checks
    again (a 422 from it is mapped onto the same fields).
    """

    name: str
    line1: str
    line2: str
    city: str
    postal_code: str
    country: str
    card_number: str
    exp_month: str
    exp_year: str
    cvc: str
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, form: Form) -> CheckoutForm:
        return cls(
            name=form["name"],
            line1=form["line1"],
            line2=form["line2"],
            city=form["city"],
            postal_code=form["postal_code"],
            country=form["country"].upper(),
            card_number="".join(form["card_number"].replace("-", " ").split()),
            exp_month=form["exp_month"],
            exp_year=form["exp_year"],
            cvc=form["cvc"],
        )

    def validate(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        required = {
            "name": "Enter the name of the person receiving the parcel",
            "line1": "Enter the street address",
            "city": "Enter the town or city",
            "postal_code": "Enter the postal code",
        }
        for name, message in required.items():
            if not getattr(self, name):
                errors[name] = message
        if self.country not in COUNTRIES:
            errors["country"] = "Choose a country we deliver to"
        # Only what the order body needs to be built; whether the card is good
        # (checksum, expiry, security code) is payments' rule, and its answer
        # comes back beside the field it names (``field_for``).
        if not self.card_number.isdigit():
            errors["card_number"] = "Enter the digits of the card number"
        if not (self.exp_month.isdigit() and 1 <= int(self.exp_month) <= 12):
            errors["exp_month"] = "Enter the expiry month, 1 to 12"
        if not self.exp_year.isdigit():
            errors["exp_year"] = "Enter the expiry year"
        if not self.cvc.isdigit():
            errors["cvc"] = "Enter the security code"
        self.errors = errors
        return errors

    def payload(self) -> dict[str, object]:
        year = int(self.exp_year)
        return {
            "shipping_address": {
                "name": self.name,
                "line1": self.line1,
                "line2": self.line2,
                "city": self.city,
                "postal_code": self.postal_code,
                "country": self.country,
            },
            "payment": {
                "number": self.card_number,
                "exp_month": int(self.exp_month),
                "exp_year": year + 2000 if year < 100 else year,
                "cvc": self.cvc,
            },
        }


# Orders names fields as in its body; the page names them as in its form.
API_FIELDS = {"number": "card_number", "exp_month": "exp_month", "exp_year": "exp_year"}


def field_for(loc: list[object]) -> str | None:
    """The form field an orders 422 error location points at, if any."""
    if not loc:
        return None
    last = str(loc[-1])
    if last in API_FIELDS:
        return API_FIELDS[last]
    if last in {"cvc", "name", "line1", "line2", "city", "postal_code", "country"}:
        return last
    return None
