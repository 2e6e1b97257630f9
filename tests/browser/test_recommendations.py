"""The product page's "often bought with" panel shows what customers really bought together."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests._system import System
from tests.browser.conftest import Shots
from tests.e2e._shop import add_to_cart, checkout, signed_in, wait_for_status

pytestmark = pytest.mark.e2e


def _found(client: httpx.Client, query: str) -> dict[str, Any]:
    answer = client.get("/api/catalog/products", params={"q": query, "limit": 1})
    (product,) = answer.json()["items"]
    return dict(product)


def test_often_bought_with_panel_lists_products_from_confirmed_orders(
    shop: System, page: Page, shots: Shots
) -> None:
    with shop.client() as client:
        # Different categories, so only orders (not the same-category guess) can pair them.
        tent, book = _found(client, "two-person tent"), _found(client, "saga pattern")
        assert set(tent["categories"]).isdisjoint(book["categories"])
        for _ in range(2):
            customer = signed_in(client)
            add_to_cart(client, customer, tent, quantity=1)
            add_to_cart(client, customer, book, quantity=1)
            order = checkout(client, customer)
            wait_for_status(client, customer, order["id"], "CONFIRMED")

    panel_item = f"[data-testid=recommendations] [data-product-id='{book['id']}']"
    deadline = time.monotonic() + 20
    while True:
        page.goto(f"/products/{tent['id']}")
        if page.locator(panel_item).count():
            break
        assert time.monotonic() < deadline, "the book never appeared in the tent's panel"
        time.sleep(0.5)
    expect(page.get_by_test_id("recommendations").get_by_role("heading")).to_have_text(
        "Often bought with"
    )
    item = page.locator(panel_item)
    assert item.get_attribute("data-reason") == "bought_together"
    assert "Bought together" in item.inner_text()
    assert book["name"] in item.inner_text()
    shots(page, "product-bought-together")
