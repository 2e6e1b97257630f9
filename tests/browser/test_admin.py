"""Admin pages: for admins only; an admin's price change reaches the shop."""

from __future__ import annotations

import re
import uuid

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


def test_an_admin_creates_a_product_sets_its_stock_and_deletes_it(page: Page) -> None:
    sku = f"TST-{uuid.uuid4().hex[:8].upper()}"
    sign_in(page, *ADMIN)
    page.goto("/admin/products/new")
    page.get_by_label("SKU").fill(sku)
    page.get_by_label("Name").fill(f"Test Kettle {sku}")
    page.get_by_label("Price").fill("25.00")
    page.get_by_label("Category").select_option("kitchen")
    page.get_by_label("Description").fill("A kettle that exists for one test.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()

    # Inventory learns of the product from catalog's event, a moment later.
    row = page.get_by_test_id("stock-row").filter(has_text=sku)
    for _ in range(50):
        page.goto("/admin/stock")
        if row.count():
            break
        page.wait_for_timeout(200)
    row.get_by_role("spinbutton").fill("7")
    row.get_by_role("button", name="Set").click()
    expect(page.get_by_text(f"Stock of {sku} saved.")).to_be_visible()
    expect(page.get_by_test_id("stock-row").filter(has_text=sku)).to_contain_text("7")

    page.goto(f"/search?q={sku}")
    page.locator(".grid .card a").first.click()
    expect(page.get_by_test_id("availability")).to_have_text("In stock")
    expect(page.get_by_text("A kettle that exists for one test.")).to_be_visible()

    page.goto("/admin/products")
    page.once("dialog", lambda dialog: dialog.accept())
    product = page.get_by_test_id("admin-product").filter(has_text=sku)
    product.get_by_role("button", name=re.compile("^Delete")).click()
    expect(page.get_by_test_id("admin-product").filter(has_text=sku)).to_have_count(0)
