"""The storefront's own rules, without I/O: session cookie, settings, forms, words."""

from __future__ import annotations

from datetime import date

import pytest

from emporium.services.storefront.forms import (
    CheckoutForm,
    Form,
    field_for,
    parse_price,
)
from emporium.services.storefront.pages.account import safe_next
from emporium.services.storefront.pages.orders import order_view
from emporium.services.storefront.pages.shop import Availability
from emporium.services.storefront.session import Session, SessionCodec, SignedInUser
from emporium.services.storefront.web import format_money

KEY = "k" * 40
ADA = SignedInUser("7f1c", "ada@example.test", "Ada", "customer")


def signed_in() -> Session:
    session = Session()
    session.sign_in(ADA, "access-token", "refresh-token", 900)
    return session


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- the session cookie ------------------------------------------------------


def test_a_sealed_session_opens_to_the_same_user_tokens_and_csrf_token() -> None:
    codec = SessionCodec([KEY], 3600)
    session = signed_in()
    opened = codec.open(codec.seal(session))
    assert opened.user == ADA
    assert (opened.access_token, opened.refresh_token) == ("access-token", "refresh-token")
    assert opened.csrf == session.csrf
    assert not opened.is_new
    assert not opened.modified


def test_the_cookie_does_not_show_the_tokens_in_clear() -> None:
    cookie = SessionCodec([KEY], 3600).seal(signed_in())
    assert "access-token" not in cookie
    assert "ada@example.test" not in cookie


def test_a_tampered_cookie_opens_as_a_new_anonymous_session() -> None:
    codec = SessionCodec([KEY], 3600)
    cookie = codec.seal(signed_in())
    tampered = cookie[:-6] + ("A" if cookie[-6] != "A" else "B") + cookie[-5:]
    opened = codec.open(tampered)
    assert opened.user is None
    assert opened.is_new


def test_a_cookie_sealed_with_another_key_is_not_ours() -> None:
    cookie = SessionCodec(["x" * 40], 3600).seal(signed_in())
    assert SessionCodec([KEY], 3600).open(cookie).user is None


def test_a_retired_key_still_opens_cookies_while_the_new_one_seals() -> None:
    old_cookie = SessionCodec([KEY], 3600).seal(signed_in())
    rotated = SessionCodec(["n" * 40, KEY], 3600)
    assert rotated.open(old_cookie).user == ADA
    assert SessionCodec([KEY], 3600).open(rotated.seal(signed_in())).user is None


def test_a_cookie_older_than_max_age_is_ignored() -> None:
    clock = Clock()
    codec = SessionCodec([KEY], 3600, clock=clock)
    cookie = codec.seal(signed_in())
    clock.now += 3599
    assert codec.open(cookie).user == ADA
    clock.now += 2
    assert codec.open(cookie).user is None


def test_a_new_session_matches_no_csrf_token_not_even_its_own() -> None:
    # Its cookie has not reached the browser yet: a form posted now is forged.
    session = Session()
    assert not session.csrf_matches(session.csrf_token)
    assert session.modified  # rendering the token asks for the cookie to be set


def test_only_the_sessions_own_csrf_token_matches() -> None:
    session = SessionCodec([KEY], 60).open(SessionCodec([KEY], 60).seal(Session()))
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches("")
    assert not session.csrf_matches(session.csrf + "x")


def test_signing_in_and_out_each_issue_a_new_csrf_token() -> None:
    session = Session()
    planted = session.csrf
    session.sign_in(ADA, "a", "r", 900)
    signed_in_token = session.csrf
    session.sign_out()
    assert len({planted, signed_in_token, session.csrf}) == 3
    assert session.user is None
    assert session.access_token == session.refresh_token == ""


# -- settings ----------------------------------------------------------------


# -- forms -------------------------------------------------------------------


def checkout_form(**changes: str) -> CheckoutForm:
    fields = {
        "name": "Ada Lovelace",
        "line1": "12 St James's Square",
        "city": "London",
        "postal_code": "SW1Y 4JH",
        "country": "gb",
        "card_number": "4242 4242 4242 4242",
        "exp_month": "12",
        "exp_year": "2035",
        "cvc": "123",
        **changes,
    }
    return CheckoutForm.of(Form(fields))


TODAY = date(2026, 11, 28)


def test_a_complete_checkout_form_has_no_errors_and_becomes_the_orders_body() -> None:
    form = checkout_form()
    assert form.validate() == {}
    body = form.payload()
    assert body["payment"] == {
        "number": "4242424242424242",
        "exp_month": 12,
        "exp_year": 2035,
        "cvc": "123",
    }
    assert body["shipping_address"]["country"] == "GB"  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"card_number": "4242-abc"}, "card_number", "digits"),
        ({"exp_month": "13"}, "exp_month", "1 to 12"),
        ({"exp_year": "soon"}, "exp_year", "expiry year"),
        ({"cvc": ""}, "cvc", "security code"),
        ({"city": ""}, "city", "town or city"),
        ({"country": "XX"}, "country", "deliver"),
    ],
)
def test_each_checkout_mistake_is_reported_on_its_own_field(
    changes: dict[str, str], field: str, words: str
) -> None:
    errors = checkout_form(**changes).validate()
    assert list(errors) == [field]
    assert words in errors[field]


def test_a_card_expiring_this_month_is_still_valid_and_two_digit_years_mean_20xx() -> None:
    assert checkout_form(exp_month="11", exp_year="2026").validate() == {}
    form = checkout_form(exp_year="29")
    assert form.validate() == {}
    assert form.payload()["payment"]["exp_year"] == 2029  # type: ignore[index]


def test_orders_error_locations_map_onto_the_forms_fields() -> None:
    assert field_for(["body", "payment", "number"]) == "card_number"
    assert field_for(["body", "payment", "exp_year"]) == "exp_year"
    assert field_for(["body", "shipping_address", "postal_code"]) == "postal_code"
    assert field_for(["body"]) is None
    assert field_for([]) is None


def test_the_card_itself_is_left_to_payments_so_its_rules_live_in_one_place() -> None:
    # A checksum failure or a past expiry is payments' verdict, shown beside the
    # field from orders' 422 (test_orders_error_locations_map_onto_the_forms_fields).
    assert checkout_form(card_number="4242424242424241").validate() == {}
    assert checkout_form(exp_month="1", exp_year="2020").validate() == {}


@pytest.mark.parametrize(
    ("text", "amount"),
    [("12.5", 1250), ("12.50", 1250), ("$7", 700), ("0.01", 1), ("0", None), ("1.234", None)],
)
def test_prices_are_read_into_minor_units(text: str, amount: int | None) -> None:
    assert parse_price(text) == amount


def test_after_sign_in_only_a_path_on_this_site_is_followed() -> None:
    assert safe_next("/cart") == "/cart"
    assert safe_next("https://evil.example/") == "/"
    assert safe_next("//evil.example/") == "/"
    assert safe_next("/\\evil.example/") == "/"


# -- words shown to shoppers -------------------------------------------------


def test_money_is_shown_with_its_symbol_or_code() -> None:
    assert format_money({"amount": 123456, "currency": "USD"}) == "$1,234.56"
    assert format_money({"amount": 5, "currency": "EUR"}) == "€0.05"
    assert format_money({"amount": 100, "currency": "CHF"}) == "1.00 CHF"


@pytest.mark.parametrize(
    ("units", "text", "can_buy"),
    [
        (None, "Availability unknown right now", True),
        (0, "Out of stock", False),
        (3, "Only 3 left", True),
        (40, "In stock", True),
    ],
)
def test_availability_is_said_in_words(units: int | None, text: str, can_buy: bool) -> None:
    assert Availability(units).text == text
    assert Availability(units).can_buy is can_buy


def test_a_cancelled_order_explains_its_reason_and_a_live_one_does_not() -> None:
    history = [{"status": "PENDING", "at": "2026-11-28T10:00:00Z", "reason": None}]
    declined = order_view({"status": "CANCELLED", "reason": "PAYMENT_DECLINED", "history": history})
    assert "declined" in declined["reason_words"]
    assert "not been charged" in declined["reason_words"]
    assert declined["final"]
    assert not declined["cancellable"]
    pending = order_view({"status": "PENDING", "reason": None, "history": history})
    assert pending["reason_words"] == ""
    assert not pending["final"]
    assert pending["cancellable"]
    assert [s["done"] for s in pending["steps"]] == [True, False, False]
