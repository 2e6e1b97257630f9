"""The shopper's journeys, start to finish, in a real browser through the gateway."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser._shopper import (
    APPROVED,
    DECLINED,
    add_to_cart,
    fill_checkout,
    open_product,
    sign_up,
)
from tests.browser.conftest import Shots

pytestmark = pytest.mark.e2e


def test_shopper_buys_two_products_and_watches_the_order_ship_without_a_reload(
    page: Page, shots: Shots
) -> None:
    sign_up(page)
    shots(page, "home")

    open_product(page, "skillet")
    expect(page.get_by_test_id("availability")).to_have_attribute(
        "data-state", re.compile("in|low")
    )
    expect(page.get_by_role("img", name=re.compile("Skillet"))).to_be_visible()
    shots(page, "product")
    add_to_cart(page)
    expect(page.get_by_test_id("cart-count")).to_have_text("1")

    open_product(page, "headlamp")
    add_to_cart(page)
    expect(page.get_by_test_id("cart-count")).to_have_text("2")
    page.goto("/search?q=headlamp")
    shots(page, "search")

    page.goto("/cart")
    expect(page.get_by_test_id("cart-line")).to_have_count(2)
    expect(page.get_by_test_id("shipping-quote")).to_contain_text("$")
    shots(page, "cart")

    fill_checkout(page, APPROVED)
    shots(page, "checkout")
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    order_url = page.url
    # Marks this document: a reload would make a new one without the mark.
    page.evaluate("document.documentElement.dataset.loadedOnce = 'yes'")

    status = page.get_by_test_id("order-status")
    expect(status).to_have_attribute("data-status", re.compile("CONFIRMED|SHIPPED"), timeout=20_000)
    shots(page, "order-confirmed")
    expect(status).to_have_attribute("data-status", "SHIPPED", timeout=20_000)
    assert page.evaluate("document.documentElement.dataset.loadedOnce") == "yes"
    assert page.url == order_url
    shots(page, "order-shipped")

    page.goto("/orders")
    order = page.get_by_test_id("order").filter(has=page.locator(f"a[href='{order_url[-44:]}']"))
    expect(order).to_have_count(1)
    expect(order.get_by_test_id("timeline").locator("li")).to_have_count(3)
    expect(order.get_by_test_id("timeline")).to_contain_text("Shipped")
    shots(page, "orders")

    page.goto("/account/notifications")
    expect(page.locator(".inbox li").first).to_be_visible(timeout=10_000)
    shots(page, "inbox")


def test_declined_card_shows_the_cancellation_reason_in_plain_words(
    page: Page, shots: Shots
) -> None:
    sign_up(page)
    open_product(page, "backpack")
    add_to_cart(page)
    fill_checkout(page, DECLINED)
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_test_id("order-status")).to_have_attribute(
        "data-status", "CANCELLED", timeout=20_000
    )
    expect(page.get_by_test_id("cancel-reason")).to_contain_text("card was declined")
    expect(page.get_by_test_id("cancel-reason")).to_contain_text("not been charged")
    shots(page, "order-cancelled")


def test_cart_quantities_change_and_lines_come_out(page: Page) -> None:
    sign_up(page)
    open_product(page, "knife")
    add_to_cart(page, 2)
    page.goto("/cart")
    line = page.get_by_test_id("cart-line")
    line.get_by_role("spinbutton").fill("3")
    line.get_by_role("button", name="Update").click()
    expect(page.get_by_test_id("cart-count")).to_have_text("3")
    line.get_by_role("button", name=re.compile("^Remove")).click()
    expect(page.get_by_text("Your cart is empty")).to_be_visible()
    expect(page.get_by_test_id("cart-count")).to_have_text("0")


def test_categories_and_search_show_counts_and_an_empty_search_says_so(
    page: Page, shots: Shots
) -> None:
    page.goto("/")
    page.get_by_role("navigation", name="Categories").get_by_role("link", name="Books").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Books")
    expect(page.get_by_test_id("result-count")).to_have_text(re.compile(r"^\d+ products?$"))
    expect(page.locator(".grid .card")).not_to_have_count(0)
    shots(page, "category")

    page.get_by_label("Search products").fill("qwxzv nothing like this")
    page.get_by_label("Search products").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("No results")
    expect(page.get_by_test_id("result-count")).to_have_text("0 results")
    expect(page.locator(".empty .category-tiles a")).not_to_have_count(0)
    shots(page, "search-empty")
