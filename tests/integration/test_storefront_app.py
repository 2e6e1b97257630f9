"""The storefront in-process against a fake API: cookies, CSRF, forms, degrading."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from emporium.services.storefront.session import COOKIE_NAME, Session, SignedInUser
from tests.integration._storefront_fakes import (
    USER,
    FakeApi,
    codec,
    csrf_token,
    idempotency_key,
    sign_in,
    storefront,
)


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    async with FakeApi().serving() as fake:
        yield fake


@pytest.fixture
async def shop(api: FakeApi, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with storefront(api, tmp_path) as client:
        yield client


def set_cookie(response: httpx.Response) -> str:
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE_NAME)]
    return header


async def test_pages_are_html_with_an_httponly_samesite_lax_session_cookie(
    shop: httpx.AsyncClient,
) -> None:
    home = await shop.get("/")
    assert home.status_code == 200
    assert home.headers["content-type"].startswith("text/html")
    assert "Skillet" in home.text
    attributes = {part.strip().split("=")[0] for part in set_cookie(home).split(";")}
    assert {"HttpOnly", "SameSite", "Path", "Max-Age"} <= attributes
    assert "SameSite=Lax" in set_cookie(home)
    assert "Secure" not in attributes


async def test_the_cookie_is_secure_when_the_shopper_came_over_https(
    shop: httpx.AsyncClient,
) -> None:
    home = await shop.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in set_cookie(home)


async def test_a_form_posted_without_the_sessions_csrf_token_is_refused_with_an_html_403(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    await shop.get("/account/signin")  # the session cookie exists, the token is not sent
    forged = await shop.post(
        "/account/signin", data={"email": USER["email"], "password": "right password"}
    )
    assert forged.status_code == 403
    assert forged.headers["content-type"].startswith("text/html")
    assert "form has expired" in forged.text
    assert api.hits["POST /api/identity/token"] == 0


async def test_a_form_from_another_sessions_page_is_refused(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    other_token = csrf_token((await shop.get("/account/signin")).text)
    shop.cookies.clear()  # a different browser: a new session with its own token
    await shop.get("/")
    forged = await shop.post(
        "/account/signin",
        data={"csrf_token": other_token, "email": USER["email"], "password": "right password"},
    )
    assert forged.status_code == 403
    assert api.hits["POST /api/identity/token"] == 0


async def test_signing_in_stores_the_user_in_the_cookie_and_shows_their_account_links(
    shop: httpx.AsyncClient,
) -> None:
    await sign_in(shop)
    opened = codec().open(shop.cookies[COOKIE_NAME])
    assert opened.user is not None
    assert opened.user.email == USER["email"]
    home = await shop.get("/")
    assert "Sign out" in home.text
    assert "Sign in" not in home.text


async def test_a_wrong_password_is_shown_next_to_the_password_field(
    shop: httpx.AsyncClient,
) -> None:
    form = await shop.get("/account/signin")
    answer = await shop.post(
        "/account/signin",
        data={"csrf_token": csrf_token(form.text), "email": USER["email"], "password": "nope"},
    )
    assert answer.status_code == 400
    assert 'aria-describedby="password-error"' in answer.text
    assert 'id="password-error"' in answer.text
    assert "The email or password is incorrect" in answer.text


def expired_session_cookie() -> dict[str, str]:
    session = Session(is_new=False)
    user = SignedInUser(USER["id"], USER["email"], USER["name"], USER["role"])
    session.sign_in(user, "access-old", "refresh-old", 900)
    session.expires_at = time.time() - 1
    return {"Cookie": f"{COOKIE_NAME}={codec().seal(session)}"}


async def test_an_expiring_access_token_is_refreshed_once_for_concurrent_pages(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    cookie = expired_session_cookie()

    pages = await asyncio.gather(*(shop.get("/cart", headers=cookie) for _ in range(3)))

    assert [p.status_code for p in pages] == [200, 200, 200]
    # Identity would revoke the sign-in if one refresh token were spent twice.
    assert api.refreshes == ["refresh-old"]
    renewed = {
        codec().open(set_cookie(p).split(";")[0].split("=", 1)[1]).refresh_token for p in pages
    }
    assert len(renewed) == 1
    assert renewed != {"refresh-old"}


async def test_the_product_page_says_availability_is_unknown_when_inventory_fails(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    api.failing.add("inventory")
    page = await shop.get(f"/products/{api.skillet['id']}")
    assert page.status_code == 200
    assert "Availability unknown right now" in page.text
    assert "Add to cart" in page.text


async def test_the_product_page_shows_live_stock_and_bought_together_products(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    page = await shop.get(f"/products/{api.skillet['id']}")
    assert "Only 3 left" in page.text
    assert 'data-testid="recommendations"' in page.text
    assert "Knife" in page.text
    assert "Often bought with" in page.text
    api.stock = 0
    page = await shop.get(f"/products/{api.skillet['id']}")
    assert "Out of stock" in page.text
    assert "Add to cart" not in page.text


async def test_the_product_page_reads_its_recommended_products_in_one_catalog_call(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    api.hits.clear()
    page = await shop.get(f"/products/{api.skillet['id']}")
    assert "Knife" in page.text
    # The page's own product by id, the recommended ones with one ids read.
    assert api.hits["GET /api/catalog/products"] == 1
    assert api.hits[f"GET /api/catalog/products/{api.knife['id']}"] == 0
    assert api.hits[f"GET /api/catalog/products/{api.skillet['id']}"] == 1


async def test_the_product_page_has_no_panel_when_recommendations_fail(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    api.failing.add("recommendations")
    page = await shop.get(f"/products/{api.skillet['id']}")
    assert page.status_code == 200
    assert 'data-testid="recommendations"' not in page.text


async def test_with_cart_failing_the_header_renders_and_the_cart_page_says_so(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    await sign_in(shop)
    api.failing.add("cart")
    home = await shop.get("/")
    assert home.status_code == 200
    assert "item count unavailable" in home.text
    cart = await shop.get("/cart")
    assert cart.status_code == 200
    assert "Your cart is unavailable right now" in cart.text


async def test_with_catalog_failing_the_shop_answers_an_html_503_page(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    api.failing.add("catalog")
    page = await shop.get("/")
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "Part of the shop is having trouble" in page.text


async def test_unknown_pages_and_malformed_ids_are_html_404_pages(
    shop: httpx.AsyncClient,
) -> None:
    for path in ("/no/such/page", "/products/not-a-uuid", f"/products/{USER['id']}"):
        page = await shop.get(path)
        assert page.status_code == 404, path
        assert page.headers["content-type"].startswith("text/html"), path


async def test_signed_out_visitors_are_sent_to_sign_in_and_customers_get_403_on_admin(
    shop: httpx.AsyncClient,
) -> None:
    away = await shop.get("/admin/products")
    assert away.status_code == 303
    assert away.headers["location"] == "/account/signin?next=%2Fadmin%2Fproducts"
    await sign_in(shop)
    refused = await shop.get("/admin/stock")
    assert refused.status_code == 403
    assert "administrators only" in refused.text
    assert "/admin/products" not in (await shop.get("/")).text


async def checkout_form(shop: httpx.AsyncClient, **changes: str) -> dict[str, str]:
    page = await shop.get("/checkout")
    return {
        "csrf_token": csrf_token(page.text),
        "idempotency_key": idempotency_key(page.text),
        "name": "Ada",
        "line1": "1 Lane",
        "city": "London",
        "postal_code": "N1",
        "country": "GB",
        "card_number": "4242424242424242",
        "exp_month": "12",
        "exp_year": "2035",
        "cvc": "123",
        **changes,
    }


async def test_a_card_payments_refuses_is_reported_on_its_field_in_payments_words(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    await sign_in(shop)
    api.fill_cart()
    api.card_refusal = ("number", "this card number is not valid: check the digits")
    answer = await shop.post(
        "/checkout", data=await checkout_form(shop, card_number="4242424242424241")
    )
    assert answer.status_code == 400
    assert 'id="card_number-error"' in answer.text
    assert "This card number is not valid: check the digits" in answer.text
    assert api.orders == []


async def test_a_card_number_that_is_not_digits_never_reaches_orders(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    await sign_in(shop)
    api.fill_cart()
    answer = await shop.post("/checkout", data=await checkout_form(shop, card_number="4242-abcd"))
    assert answer.status_code == 400
    assert 'id="card_number-error"' in answer.text
    assert api.orders == []


async def test_an_empty_cart_is_reported_beside_the_summary_without_placing_an_order(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    await sign_in(shop)
    answer = await shop.post("/checkout", data=await checkout_form(shop))
    assert answer.status_code == 400
    assert 'data-testid="cart-error"' in answer.text
    assert api.orders == []


async def test_resubmitting_one_rendered_checkout_form_sends_one_idempotency_key(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    await sign_in(shop)
    api.fill_cart()
    form = await checkout_form(shop)
    first, second = await asyncio.gather(
        shop.post("/checkout", data=form), shop.post("/checkout", data=form)
    )
    assert first.status_code == second.status_code == 303
    assert [key for key, _ in api.orders] == [form["idempotency_key"]] * 2
    another = await checkout_form(shop)
    assert another["idempotency_key"] != form["idempotency_key"]
    assert api.orders[0][1]["payment"]["number"] == "4242424242424242"


async def test_a_signed_out_add_to_cart_goes_to_sign_in_and_back_to_the_product(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    product_path = f"/products/{api.skillet['id']}"
    page = await shop.get(product_path)
    form = {"csrf_token": csrf_token(page.text), "product_id": api.skillet["id"], "quantity": "1"}
    referer = {"Referer": f"http://shop{product_path}"}

    plain = await shop.post("/cart/items", data=form, headers=referer)
    assert plain.status_code == 303
    assert plain.headers["location"] == f"/account/signin?next=%2Fproducts%2F{api.skillet['id']}"

    swapped = await shop.post("/cart/items", data=form, headers={**referer, "HX-Request": "true"})
    # htmx cannot swap a whole sign-in page into the panel: it is told to navigate.
    assert swapped.headers["HX-Redirect"] == plain.headers["location"]


async def test_a_line_beyond_the_stock_left_is_reported_on_that_line_without_ordering(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    await sign_in(shop)
    api.fill_cart()
    api.stock = 0
    answer = await shop.post("/checkout", data=await checkout_form(shop))
    assert answer.status_code == 400
    assert 'data-testid="stock-error"' in answer.text
    assert "Out of stock: remove it" in answer.text
    assert api.orders == []


async def test_a_refused_refresh_signs_the_shopper_out_and_asks_them_to_sign_in(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    api.refresh_status = 401
    answer = await shop.get("/orders", headers=expired_session_cookie())
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account/signin?next=%2Forders"
    assert codec().open(set_cookie(answer).split(";")[0].split("=", 1)[1]).user is None


async def test_a_busy_identity_during_refresh_keeps_the_shopper_signed_in(
    shop: httpx.AsyncClient, api: FakeApi
) -> None:
    api.refresh_status = 429
    answer = await shop.get("/orders", headers=expired_session_cookie())
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("text/html")
    # No new cookie: the browser keeps the session it has and tries again later.
    assert not [h for h in answer.headers.get_list("set-cookie") if h.startswith(COOKIE_NAME)]


async def test_a_stuck_saga_on_the_ops_page_has_a_retry_button_that_asks_orders_to_retry(
    api: FakeApi, shop: httpx.AsyncClient
) -> None:
    order_id = "0b7f3c2e-1d9a-4f55-9c43-5a0d2b7e9e11"
    stuck = {
        "order_id": order_id,
        "status": "PENDING",
        "step": "AUTHORIZING",
        "stuck": True,
        "awaiting": ["AuthorizePayment"],
    }
    api.role = "admin"
    api.sagas = [{**stuck, "steps": [{"status": "PENDING", "at": "2030-01-01T12:00:00"}]}]
    await sign_in(shop)
    page = await shop.get("/admin/ops")
    assert page.status_code == 200, page.text
    assert f'action="/admin/ops/sagas/{order_id}/retry"' in page.text
    assert "waiting in authorizing for AuthorizePayment" in page.text

    answer = await shop.post(
        f"/admin/ops/sagas/{order_id}/retry", data={"csrf_token": csrf_token(page.text)}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/ops#sagas"
    assert api.retried == [order_id]


async def test_a_pending_orders_status_is_a_long_poll_asked_again_at_once(
    api: FakeApi, shop: httpx.AsyncClient
) -> None:
    await sign_in(shop)
    order_id = "5d0c9a47-8f3e-4b2a-9d61-2c7e0f4a8b13"
    pending = await shop.get(f"/orders/{order_id}/status")
    assert pending.status_code == 200, pending.text
    read = api.order_reads[-1]
    assert read["wait"] == "10"
    # Orders holds it no longer than the storefront's call allows (2 s by default).
    assert 0 < int(read["deadline_ms"]) <= 2000
    assert 'hx-trigger="load, every 2s"' in pending.text
    assert 'hx-sync="this:drop"' in pending.text

    api.order_status = "CONFIRMED"  # waiting to ship: asked every second
    confirmed = await shop.get(f"/orders/{order_id}/status")
    assert 'hx-trigger="every 1s"' in confirmed.text

    api.order_status = "SHIPPED"  # final: no more asking
    shipped = await shop.get(f"/orders/{order_id}/status")
    assert "hx-get" not in shipped.text
