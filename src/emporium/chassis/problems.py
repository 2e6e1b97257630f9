"""RFC 9457 problem details for every error a service returns.

Validation errors, unknown routes, wrong methods, oversized bodies and
unhandled exceptions all answer ``application/problem+json``; nothing ever
returns a stack trace. Services raise :class:`Problem` for their own errors.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from emporium.chassis import context
from emporium.chassis.http import UpstreamFailure

__all__ = ["PROBLEM_JSON", "Problem", "install_problem_handlers", "problem_response"]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error a handler raises on purpose; becomes a problem+json response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type
        self.headers = headers or {}
        self.extensions = extensions


def problem_body(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type: str = "about:blank",
    instance: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    rid = context.request_id.get()
    if rid is not None:
        body["request_id"] = rid
    body.update(extensions)
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(problem_body(status, detail, instance=instance, **extensions)),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    body = problem_body(
        exc.status,
        exc.detail,
        title=exc.title,
        type=exc.type,
        instance=request.url.path,
        **exc.extensions,
    )
    return JSONResponse(
        jsonable_encoder(body), exc.status, headers=exc.headers, media_type=PROBLEM_JSON
    )


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No resource at {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(
        exc.status_code,
        detail,
        instance=request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return problem_response(
        422,
        "The request is not valid: see errors",
        instance=request.url.path,
        errors=errors,
    )


async def _on_upstream_failure(request: Request, exc: Exception) -> JSONResponse:
    """A service another one depends on could not answer: 503, retry later.

    Any route that calls another service through the chassis client gets this
    without writing it; ``Retry-After`` is the breaker's cool-down when it is open.
    """
    assert isinstance(exc, UpstreamFailure)
    logger.warning(
        "%s %s: upstream %s failed: %s", request.method, request.url.path, exc.upstream, exc
    )
    wait = getattr(exc, "retry_after", None) or 1
    return problem_response(
        503,
        f"{exc.upstream} is unavailable; try again shortly",
        instance=request.url.path,
        headers={"Retry-After": str(max(1, round(wait)))},
        upstream=exc.upstream,
    )


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        500, "An unexpected error occurred; it has been logged", instance=request.url.path
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(UpstreamFailure, _on_upstream_failure)
    app.add_exception_handler(Exception, _on_unhandled)
