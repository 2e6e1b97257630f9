"""Admin pages: for admins only; an admin's price change reaches the shop."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser._shopper import ADMIN, open_product, sign_in, sign_up
from tests.browser.conftest import Shots

pytestmark = pytest.mark.e2e

ADMIN_PAGES = ("/admin/products", "/admin/stock", "/admin/orders")


def test_a_customer_sees_no_admin_link_and_gets_403_on_every_admin_page(page: Page) -> None:
    sign_up(page)
    expect(page.get_by_test_id("admin-link")).to_have_count(0)
    for path in ADMIN_PAGES:
        response = page.goto(path)
        assert response is not None
        assert response.status == 403, path
        assert response.headers["content-type"].startswith("text/html")
        expect(page.get_by_test_id("error-page")).to_contain_text("administrators only")


def test_a_signed_out_visitor_is_sent_to_sign_in_from_admin_pages(page: Page) -> None:
    page.goto("/admin/products")
    expect(page).to_have_url(re.compile(r"/account/signin\?next=%2Fadmin%2Fproducts$"))


def test_an_admin_changes_a_price_and_the_product_page_shows_it(page: Page, shots: Shots) -> None:
    sign_in(page, *ADMIN)
    expect(page.get_by_test_id("admin-link")).to_be_visible()
    product_url = open_product(page, "tent")
    product_id = product_url.rsplit("/", 1)[1]

    page.get_by_test_id("admin-link").click()
    shots(page, "admin-products")
    page.goto(f"/admin/products/{product_id}")
    price = page.get_by_label("Price")
    new_price = "187.65" if price.input_value() != "187.65" else "176.54"
    price.fill(new_price)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()

    page.goto(product_url)
    expect(page.get_by_test_id("price")).to_have_text(f"${new_price}")

    page.goto("/admin/stock")
    expect(page.get_by_test_id("stock-row").first).to_be_visible()
    shots(page, "admin-stock")
    page.goto("/admin/orders")
    shots(page, "admin-orders")
