"""A shopper's moves in the browser, shared by the browser tests."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

__all__ = [
    "ADMIN",
    "APPROVED",
    "ARTIFACTS",
    "DECLINED",
    "add_to_cart",
    "fill_checkout",
    "open_product",
    "sign_in",
    "sign_up",
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "browser-artifacts"
APPROVED, DECLINED = "4242424242424242", "4000000000000002"
ADMIN = ("admin@emporium.local", "emporium-admin")
PASSWORD = "a long passphrase 42"


def sign_up(page: Page) -> str:
    """A new customer, signed up through the page and signed in: their email."""
    email = f"shopper-{uuid.uuid4().hex[:10]}@example.test"
    page.goto("/account/signup")
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return email


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/account/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def open_product(page: Page, query: str) -> str:
    """Search for ``query`` and open the first result: the product's page path."""
    page.goto("/")
    page.get_by_label("Search products").fill(query)
    page.get_by_label("Search products").press("Enter")
    expect(page.get_by_test_id("result-count")).to_contain_text("result")
    page.locator(".grid .card a").first.click()
    expect(page).to_have_url(re.compile(r"/products/[0-9a-f-]{36}$"))
    return page.url


def add_to_cart(page: Page, quantity: int = 1) -> None:
    """On a product page: add ``quantity`` and wait for the shop to say so."""
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator("#added")).to_contain_text("Added")


def fill_checkout(page: Page, card: str, *, exp_year: str = "2035") -> None:
    page.goto("/checkout")
    page.get_by_label("Full name").fill("Grace Hopper")
    page.get_by_label("Address", exact=True).fill("1 Navy Yard")
    page.get_by_label("Town or city").fill("Arlington")
    page.get_by_label("Postal code").fill("22202")
    page.get_by_label("Country").select_option("US")
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Expiry month (MM)").fill("12")
    page.get_by_label("Expiry year (YYYY)").fill(exp_year)
    page.get_by_label("Security code").fill("123")
