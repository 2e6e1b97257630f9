"""Conditional GET rules and the catalog's input validation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from emporium.services.catalog.caching import etag_of, not_modified
from emporium.services.catalog.schemas import ProductIn, ProductPatch


def test_etag_is_strong_and_follows_the_bytes() -> None:
    assert etag_of(b"a") == etag_of(b"a") != etag_of(b"b")
    assert etag_of(b"a")[0] == etag_of(b"a")[-1] == '"'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ('"x",W/"abc" ', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
    ],
)
def test_if_none_match_uses_weak_comparison_over_a_list(
    header: str | None, *, expected: bool
) -> None:
    assert not_modified(header, '"abc"') is expected


def _product(**changes: Any) -> dict[str, Any]:
    return {"sku": "A-1", "name": "A", "price": {"amount": 1, "currency": "USD"}, **changes}


def test_a_minimal_product_is_valid_and_trimmed() -> None:
    product = ProductIn.model_validate(_product(name="  Mug  "))
    assert (product.name, product.description, product.categories) == ("Mug", "", [])
    assert product.image_url is None


@pytest.mark.parametrize(
    "price",
    [{"amount": 0, "currency": "USD"}, {"amount": True, "currency": "USD"},
     {"amount": 1.5, "currency": "USD"}, {"amount": "1", "currency": "USD"},
     {"amount": 1, "currency": "EURO"}],
)  # fmt: skip
def test_price_is_a_positive_integer_and_an_iso_code(price: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ProductIn.model_validate(_product(price=price))


def test_a_whole_number_written_as_1_0_is_the_json_integer_1() -> None:
    # JSON Schema (and so the OpenAPI document) calls 1.0 an integer.
    price = {"amount": 1.0, "currency": "USD"}
    assert ProductIn.model_validate(_product(price=price)).price.amount == 1


def test_a_patch_knows_absent_from_null() -> None:
    assert ProductPatch.model_validate({}).model_fields_set == set()
    assert ProductPatch.model_validate({"image_url": None}).model_fields_set == {"image_url"}
    with pytest.raises(ValidationError, match="not null"):
        ProductPatch.model_validate({"name": None})
