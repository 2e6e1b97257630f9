"""axe-core finds no serious or critical accessibility problem on the shop's pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser._axe import serious_violations
from tests.browser._shopper import (
    ADMIN,
    APPROVED,
    add_to_cart,
    fill_checkout,
    open_product,
    sign_in,
    sign_up,
)

pytestmark = pytest.mark.e2e


def assert_accessible(page: Page, width: int) -> None:
    """No serious axe finding at ``width`` nor on a 360 px phone, where nothing scrolls sideways."""
    for size in (width, 360):
        page.set_viewport_size({"width": size, "height": 900})
        found = serious_violations(page)
        assert not found, f"{page.url} at {size} px: {found}"
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 360, f"{page.url} is {overflow} px wide on a 360 px screen"
    page.set_viewport_size({"width": width, "height": 900})


def test_the_keyboard_reaches_the_skip_link_first_and_it_jumps_to_the_content(
    page: Page,
) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # shown when focused, hidden otherwise
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    # The next stop is inside the page's content, not back in the header.
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")


def test_shopper_pages_have_no_serious_accessibility_violations(page: Page) -> None:
    page.goto("/")
    assert_accessible(page, 1280)
    sign_up(page)
    open_product(page, "coffee")
    assert_accessible(page, 1280)
    add_to_cart(page)
    page.goto("/cart")
    assert_accessible(page, 1280)
    fill_checkout(page, "1234")
    assert_accessible(page, 1280)
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_test_id("card_number-error")).to_be_visible()
    assert_accessible(page, 1280)  # the checkout with its errors shown
    fill_checkout(page, APPROVED)
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    assert_accessible(page, 1280)
    page.goto("/orders")
    assert_accessible(page, 1280)


def test_admin_pages_have_no_serious_accessibility_violations(page: Page) -> None:
    sign_in(page, *ADMIN)
    for path in ("/admin/products", "/admin/products/new", "/admin/stock", "/admin/orders"):
        page.goto(path)
        assert_accessible(page, 1280)
