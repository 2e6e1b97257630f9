"""Mistakes a shopper makes are explained next to the field they concern."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser._shopper import APPROVED, add_to_cart, fill_checkout, open_product, sign_up
from tests.browser.conftest import Shots

pytestmark = pytest.mark.e2e


def test_wrong_password_is_shown_next_to_the_password_field(page: Page, shots: Shots) -> None:
    email = sign_up(page)
    page.get_by_role("button", name="Sign out").click()
    page.goto("/account/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()

    password = page.get_by_label("Password")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_attribute("aria-describedby", "password-error")
    expect(page.get_by_test_id("password-error")).to_have_text("The email or password is incorrect")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    shots(page, "signin-error")


def test_invalid_card_number_is_shown_next_to_the_card_number(page: Page, shots: Shots) -> None:
    sign_up(page)
    open_product(page, "bottle")
    add_to_cart(page)
    fill_checkout(page, "4242424242424241")
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_test_id("card_number-error")).to_contain_text("not valid")
    expect(page.get_by_label("Card number")).to_have_attribute("aria-invalid", "true")
    # Only the wrong field is flagged; the address is kept for the retry.
    expect(page.locator("[aria-invalid=true]")).to_have_count(1)
    expect(page.get_by_label("Town or city")).to_have_value("Arlington")
    shots(page, "checkout-errors")


def test_expired_card_is_shown_next_to_the_expiry_year(page: Page) -> None:
    sign_up(page)
    open_product(page, "bottle")
    add_to_cart(page)
    fill_checkout(page, APPROVED, exp_year="2020")
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_test_id("exp_year-error")).to_have_text("This card has expired")


def test_checkout_with_an_empty_cart_says_so_beside_the_order_summary(page: Page) -> None:
    sign_up(page)
    fill_checkout(page, APPROVED)
    expect(page.get_by_test_id("cart-error")).to_contain_text("Your cart is empty")
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_test_id("checkout-error")).to_contain_text("Your cart is empty")
    expect(page.get_by_test_id("cart-error")).to_contain_text("Your cart is empty")
    expect(page).not_to_have_url(re.compile(r"/orders/"))


def test_unknown_pages_are_html_error_pages_in_the_shop_design(page: Page) -> None:
    response = page.goto("/products/00000000-0000-4000-8000-000000000000")
    assert response is not None
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    # The gateway's policy: scripts and styles from this origin only (the page
    # fixture fails the test on any violation the browser reports).
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_test_id("error-page")).to_contain_text("could not find")
    expect(page.get_by_label("Search products")).to_be_visible()
