"""Free-text request fields are bounded: they travel through every saga message."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from emporium.services.orders.entrypoints.schemas import AddressIn
from emporium.services.shipping.routes import QuoteIn

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Analytical Way",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}


def test_an_ordinary_address_is_accepted() -> None:
    assert AddressIn.model_validate(ADDRESS).model_dump()["line2"] == ""


@pytest.mark.parametrize(
    "change",
    [
        {"name": "N" * 1_000_000},
        {"name": "N" * 201},
        {"line1": "L" * 201},
        {"line2": "L" * 201},
        {"city": "C" * 101},
        {"postal_code": "1" * 17},
        {"postal_code": "<script>"},
        {"country": "GBR"},
        {"country": "gb"},
        {"name": "two\nlines"},
        {"name": ""},
    ],
)
def test_an_unbounded_or_malformed_address_field_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AddressIn.model_validate({**ADDRESS, **change})


def test_a_quote_country_is_bounded_before_it_is_normalised() -> None:
    assert QuoteIn.model_validate({"country": " us ", "items": [{"sku": "A", "quantity": 1}]})
    with pytest.raises(ValidationError):
        QuoteIn.model_validate({"country": "U" * 100_000, "items": [{"sku": "A", "quantity": 1}]})
