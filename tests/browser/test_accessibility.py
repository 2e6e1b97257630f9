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
    for size in (width, 360):
        page.set_viewport_size({"width": size, "height": 900})
        found = serious_violations(page)
        assert not found, f"{page.url} at {size} px: {found}"


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
