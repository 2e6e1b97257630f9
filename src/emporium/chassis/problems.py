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
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match

from emporium.chassis import context
from emporium.chassis.http import UpstreamFailure, UpstreamUnavailable

__all__ = [
    "PROBLEM_JSON",
    "PROBLEM_REF",
    "PROBLEM_SCHEMA",
    "UPSTREAM_DOWN",
    "VALIDATION_PROBLEM_REF",
    "VALIDATION_PROBLEM_SCHEMA",
    "Problem",
    "install_problem_handlers",
    "problem_response",
    "problem_responses",
]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# On a 503 answered without asking the upstream it names, because its circuit
# is open: this service is not short of capacity, a dependency is down, so
# admission limits in front of it must not shrink (decision 0021).
UPSTREAM_DOWN = "x-emporium-upstream-down"
PROBLEM_REF = "#/components/schemas/Problem"
VALIDATION_PROBLEM_REF = "#/components/schemas/ValidationProblem"

# What every problem body is (see problem_body): the RFC 9457 members, the
# request id, and any extension members a Problem carries.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
    },
    "additionalProperties": True,
}
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "description": "A 422 problem; ``errors`` says what and where when the body or "
    "parameters failed validation (a rule of the service's may send none)",
    "allOf": [
        {"$ref": PROBLEM_REF},
        {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["loc", "msg", "type"],
                        "properties": {
                            "loc": {
                                "type": "array",
                                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                            },
                            "msg": {"type": "string"},
                            "type": {"type": "string"},
                        },
                    },
                }
            },
        },
    ],
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems a route answers on purpose.

    ``@router.get(..., responses=problem_responses(404))``. The chassis adds
    what every route may answer (see :mod:`emporium.chassis.openapi`).
    """
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {
                PROBLEM_JSON: {
                    "schema": {"$ref": VALIDATION_PROBLEM_REF if status == 422 else PROBLEM_REF}
                }
            },
        }
        for status in statuses
    }


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
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return problem_response(
        exc.status_code, detail, instance=request.url.path, headers=headers or None
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path.

    Starlette's 405 names only the methods of the first route whose path
    matched, but GET and DELETE on one path are two routes. (FastAPI keeps
    included routers lazily; the route contexts list their routes.)
    """
    methods: set[str] = set()
    for route_context in iter_route_contexts(request.app.router.routes):
        route = route_context.original_route
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


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
    without writing it; ``Retry-After`` is the breaker's cool-down when it is open,
    and :data:`UPSTREAM_DOWN` names the upstream whose open circuit refused it.
    """
    assert isinstance(exc, UpstreamFailure)
    logger.warning(
        "%s %s: upstream %s failed: %s", request.method, request.url.path, exc.upstream, exc
    )
    wait = getattr(exc, "retry_after", None) or 1
    headers = {"Retry-After": str(max(1, round(wait)))}
    if isinstance(exc, UpstreamUnavailable) and exc.reason == "circuit_open":
        headers[UPSTREAM_DOWN] = exc.upstream
    return problem_response(
        503,
        f"{exc.upstream} is unavailable; try again shortly",
        instance=request.url.path,
        headers=headers,
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
