"""What every page shares: templates, the shopper's API, and the page chrome.

The chrome (header with categories, account links and the cart badge) never
fails a page: when catalog or cart cannot answer, it renders without them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse

from emporium.chassis import Runtime
from emporium.chassis.http import UpstreamFailure
from emporium.services.storefront.api import Api, SignInRequired, Upstreams
from emporium.services.storefront.products import CatalogProducts
from emporium.services.storefront.session import Session, session_of

__all__ = [
    "STATIC_DIR",
    "AdminOnly",
    "api_of",
    "cart_count",
    "format_money",
    "fragment",
    "is_htmx",
    "optional",
    "page",
    "products_of",
    "redirect",
    "require_admin",
    "require_user",
    "sign_in_url",
    "templates",
    "upstreams_of",
]

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
T = TypeVar("T")


def format_money(money: Mapping[str, Any] | None) -> str:
    """``{"amount": 1234, "currency": "USD"}`` → ``$12.34``."""
    if not money:
        return ""
    amount, currency = int(money["amount"]), str(money["currency"])
    text = f"{abs(amount) // 100:,}.{abs(amount) % 100:02d}"
    sign = "-" if amount < 0 else ""
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


templates.env.filters["money"] = format_money


def upstreams_of(request: Request) -> Upstreams:
    runtime: Runtime = request.app.state.runtime
    return runtime.get(Upstreams)


def products_of(request: Request) -> CatalogProducts:
    runtime: Runtime = request.app.state.runtime
    return runtime.get(CatalogProducts)


def api_of(request: Request) -> Api:
    return Api(upstreams_of(request), session_of(request))


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def optional(call: Awaitable[T], what: str) -> T | None:
    """The result of ``call``, or None when its service cannot answer (the page degrades)."""
    try:
        return await call
    except UpstreamFailure as exc:
        logger.info("page renders without %s: %s", what, exc)
        return None


async def cart_count(api: Api) -> int | None:
    """Units in the shopper's cart; None when signed out or when cart cannot answer."""
    if api.session.user is None:
        return None
    answer = await optional(api.as_user("cart", "GET", "/api/cart"), "the cart badge")
    if answer is None or answer.status != 200:
        return None
    return sum(int(line["quantity"]) for line in answer.json()["items"])


async def page(
    request: Request, template: str, context: Mapping[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """A full page: the template inside the chrome, never cached by the browser."""
    api = api_of(request)
    categories, count = await asyncio.gather(
        optional(api.upstreams.categories(), "the categories"), _safe_count(api)
    )
    session = api.session
    full = {
        "user": session.user,
        "csrf_token": session.csrf_token,
        "nav_categories": categories or [],
        "cart_count": count,
        "path": request.url.path,
        **(context or {}),
    }
    return templates.TemplateResponse(
        request, template, full, status_code=status, headers={"Cache-Control": "no-store"}
    )


async def _safe_count(api: Api) -> int | None:
    try:
        return await cart_count(api)
    except SignInRequired:
        return None


def fragment(
    request: Request, template: str, context: Mapping[str, Any], status: int = 200
) -> HTMLResponse:
    """A piece of a page for htmx to swap in."""
    session: Session = session_of(request)
    full = {"user": session.user, "csrf_token": session.csrf_token, **context}
    return templates.TemplateResponse(
        request, template, full, status_code=status, headers={"Cache-Control": "no-store"}
    )


def redirect(url: str) -> RedirectResponse:
    # 303: after a POST the browser GETs the next page, so a reload never re-posts.
    return RedirectResponse(url, status_code=303)


def sign_in_url(request: Request) -> str:
    """Sign in, then come back: to this page, or for a form to the page that posted it."""
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        # Coming back to a POST-only address would be a 405: go back to the form.
        target = urlsplit(request.headers.get("referer", "")).path or "/"
    return f"/account/signin?next={quote(target, safe='')}"


def require_user(request: Request) -> Session:
    session = session_of(request)
    if session.user is None:
        raise SignInRequired
    return session


class AdminOnly(Exception):
    """A signed-in shopper who is not an admin asked for an admin page."""


def require_admin(request: Request) -> Session:
    session = require_user(request)
    assert session.user is not None
    if not session.user.is_admin:
        raise AdminOnly
    return session
