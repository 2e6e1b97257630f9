"""The shop degrades, never breaks, when a service it reads from is stopped.

Each test scales one service to zero instances through the launcher (as an
operator would), checks the pages, and scales it back before the next test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Page, expect

from tests._system import System
from tests.browser._shopper import add_to_cart, open_product, sign_up
from tests.browser.conftest import Shots, wait_until

pytestmark = pytest.mark.e2e


@contextmanager
def stopped(system: System, service: str) -> Iterator[None]:
    """``service`` has no instance inside the block; it is back and ready after it."""
    scaled = system.cli("scale", f"{service}=0")
    assert scaled.returncode == 0, scaled.stderr
    wait_until(lambda: not system.instances(service), 20, f"{service} did not stop")
    try:
        yield
    finally:
        system.cli("scale", f"{service}=1")
        wait_until(
            lambda: [i["health"] for i in system.instances(service)] == ["ready"],
            60,
            f"{service} did not come back",
        )


def test_product_page_renders_with_availability_unknown_while_inventory_is_stopped(
    shop: System, page: Page, shots: Shots
) -> None:
    product_url = open_product(page, "skillet")
    with stopped(shop, "inventory"):
        response = page.goto(product_url)
        assert response is not None
        assert response.status == 200
        expect(page.get_by_test_id("availability")).to_have_text("Availability unknown right now")
        expect(page.get_by_role("heading", level=1)).to_have_text("Cast Iron Skillet")
        expect(page.get_by_test_id("price")).to_contain_text("$")
        expect(page.get_by_role("button", name="Add to cart")).to_be_visible()
        shots(page, "degraded-no-inventory")


def test_product_page_renders_without_the_panel_while_recommendations_are_stopped(
    shop: System, page: Page
) -> None:
    product_url = open_product(page, "skillet")
    expect(page.get_by_test_id("recommendations")).to_be_visible()
    with stopped(shop, "recommendations"):
        response = page.goto(product_url)
        assert response is not None
        assert response.status == 200
        expect(page.get_by_role("heading", level=1)).to_have_text("Cast Iron Skillet")
        expect(page.get_by_test_id("recommendations")).to_have_count(0)


def test_header_renders_and_cart_page_says_so_while_cart_is_stopped(
    shop: System, page: Page, shots: Shots
) -> None:
    sign_up(page)
    open_product(page, "headlamp")
    add_to_cart(page)
    with stopped(shop, "cart"):
        page.goto("/")
        expect(page.get_by_role("link", name=re.compile("^Cart"))).to_be_visible()
        expect(page.get_by_test_id("cart-count")).to_have_count(0)
        response = page.goto("/cart")
        assert response is not None
        assert response.headers["content-type"].startswith("text/html")
        expect(page.get_by_test_id("cart-unavailable")).to_contain_text("unavailable")
        shots(page, "degraded-no-cart")
