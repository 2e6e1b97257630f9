"""Every error the shop shows is an HTML page in the shop's design, never JSON.

Installed over the chassis' problem+json handlers (the same exception types),
since a browser, not an API client, reads these answers.
"""

from __future__ import annotations

import logging
from html import escape
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response

from emporium.chassis import Problem
from emporium.chassis.http import UpstreamFailure
from emporium.services.storefront.api import SignInRequired
from emporium.services.storefront.forms import CsrfRejected
from emporium.services.storefront.web import AdminOnly, is_htmx, page, redirect, sign_in_url

__all__ = ["error_page", "install_html_errors"]

logger = logging.getLogger(__name__)

_TITLES = {
    400: "That request did not make sense",
    403: "You cannot open this page",
    404: "We could not find that page",
    503: "Part of the shop is having trouble",
    500: "Something went wrong on our side",
}


async def error_page(
    request: Request,
    status: int,
    message: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    title = title or _TITLES.get(status) or HTTPStatus(status).phrase
    context = {"status": status, "title": title, "message": message}
    try:
        response: Response = await page(request, "error.html", context, status=status)
    except Exception:
        # The error page must not fail in turn: the plainest page there is.
        logger.exception("rendering the error page failed")
        body = f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1>"
        response = HTMLResponse(f"{body}<p>{escape(message)}</p>", status_code=status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


async def _sign_in(request: Request, _exc: Exception) -> Response:
    target = sign_in_url(request)
    if is_htmx(request):
        # A swap cannot follow a redirect into a whole page: tell htmx to navigate.
        return Response(status_code=204, headers={"HX-Redirect": target})
    return redirect(target)


async def _csrf(request: Request, _exc: Exception) -> Response:
    return await error_page(
        request,
        403,
        "This form has expired or did not come from this shop. Go back, reload the page "
        "and try again.",
        title="Please try that again",
    )


async def _admin_only(request: Request, _exc: Exception) -> Response:
    return await error_page(request, 403, "This page is for the shop's administrators only.")


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {
        404: "The page you asked for does not exist, or the product is no longer sold.",
        405: "This page cannot be used that way.",
    }
    message = messages.get(exc.status_code) or str(exc.detail)
    return await error_page(request, exc.status_code, message)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if any(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
        # /products/not-an-id is simply a page that does not exist.
        return await error_page(request, 404, "The page you asked for does not exist.")
    return await error_page(request, 400, "The link you followed has a value this page cannot use.")


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return await error_page(request, exc.status, exc.detail, headers=exc.headers)


async def _upstream(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UpstreamFailure)
    logger.warning(
        "%s %s: %s cannot answer: %s", request.method, request.url.path, exc.upstream, exc
    )
    return await error_page(
        request,
        503,
        "We cannot reach part of the shop right now. Please try again in a moment.",
        headers={"Retry-After": "2"},
    )


async def _unhandled(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return await error_page(
        request, 500, "Sorry: an unexpected error happened. It has been logged; please try again."
    )


def install_html_errors(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(CsrfRejected, _csrf)
    app.add_exception_handler(AdminOnly, _admin_only)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(UpstreamFailure, _upstream)
    app.add_exception_handler(Exception, _unhandled)
