"""Shipping quotes: by country and item count, deterministic, bad input is a 422 problem."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from emporium.chassis.problems import install_problem_handlers
from emporium.services.shipping.quotes import (
    DOMESTIC,
    RATES,
    UnsupportedCountryError,
    quote,
    rate_for,
)
from emporium.services.shipping.routes import router


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shipping") as client:
        yield client


def test_price_is_a_base_plus_a_price_per_item() -> None:
    one, three = quote("DE", 1).amount, quote("DE", 3).amount
    assert three - one == 2 * rate_for("DE").per_item
    assert one == rate_for("DE").base + rate_for("DE").per_item


@pytest.mark.parametrize("country", ["CA", "GB", "JP"])
@pytest.mark.parametrize("items", [1, 5, 20])
def test_domestic_shipping_is_cheaper_than_international(country: str, items: int) -> None:
    assert quote("US", items).amount < quote(country, items).amount


def test_domestic_shipping_is_free_from_the_threshold() -> None:
    threshold = DOMESTIC.free_from_items
    assert threshold is not None
    assert quote("US", threshold - 1).amount > 0
    assert quote("US", threshold).amount == 0


def test_every_supported_country_is_an_alpha2_code() -> None:
    assert all(len(code) == 2 and code.isupper() for code in RATES)


@pytest.mark.parametrize("country", ["ZZ", "KP", "us", "USA", ""])
def test_unsupported_or_unknown_countries_are_refused(country: str) -> None:
    with pytest.raises(UnsupportedCountryError):
        quote(country, 1)


async def test_quote_endpoint_sums_quantities_and_is_deterministic(
    client: httpx.AsyncClient,
) -> None:
    body = {
        "country": "us",
        "items": [{"sku": "A-1", "quantity": 2}, {"sku": "B-2", "quantity": 1}],
    }
    first = await client.post("/api/shipping/quotes", json=body)
    second = await client.post("/api/shipping/quotes", json=body)
    assert first.status_code == 200
    assert first.json() == second.json()
    expected = quote("US", 3)
    assert first.json()["amount"] == {"amount": expected.amount, "currency": "USD"}
    assert first.json()["carrier"] == expected.carrier
    assert first.json()["eta_days"] == expected.eta_days


@pytest.mark.parametrize(
    "body",
    [
        {"country": "ZZ", "items": [{"sku": "A", "quantity": 1}]},
        {"country": "U1", "items": [{"sku": "A", "quantity": 1}]},
        {"country": "US", "items": []},
        {"country": "US", "items": [{"sku": "A", "quantity": 0}]},
        {"country": "US", "items": [{"sku": "", "quantity": 1}]},
        {"items": [{"sku": "A", "quantity": 1}]},
    ],
)
async def test_bad_quote_requests_are_422_problems(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/api/shipping/quotes", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 422
