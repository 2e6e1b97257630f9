"""A service's OpenAPI document says exactly what it answers.

FastAPI documents the happy path and a JSON 422. The chassis answers more than
that on every route, so :func:`document_responses` completes each operation
once, when the document is first built:

- every 4xx/5xx response is ``application/problem+json`` with the ``Problem``
  schema (``ValidationProblem`` for 422), whoever declared it: the route
  (``responses=problem_responses(404, 409)``) or the chassis;
- what the chassis itself may answer on any route is added: 500 (an unhandled
  error), 503 (the route's concurrency limit is reached, an upstream the route
  needs cannot answer, or the service is draining) and 504 (the caller's
  deadline passed); 400 and 413 (unparseable or oversized body) where there is a body;
- a route that depends on ``CurrentUser`` or ``AdminUser`` gets the bearer
  security requirement and 401 (and 403 for ``AdminUser``); ``OptionalUser``
  gets 401, as a bad token is refused even where none is needed.

Statuses a route raises on purpose (404, 409, 428, ...) stay the route's to
declare: they are its contract, and a reader finds them next to the handler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BeforeValidator, Field

from emporium.chassis.auth import AdminUser, CurrentUser, OptionalUser
from emporium.chassis.problems import (
    PROBLEM_JSON,
    PROBLEM_REF,
    PROBLEM_SCHEMA,
    VALIDATION_PROBLEM_REF,
    VALIDATION_PROBLEM_SCHEMA,
)

__all__ = [
    "BEARER_SCHEME",
    "BEARER_SECURITY_SCHEME",
    "MAX_OFFSET",
    "JsonInt",
    "Offset",
    "complete_document",
    "declare_problems",
    "document_responses",
]

BEARER_SCHEME = "bearerAuth"
_SCHEMA_PREFIX = "#/components/schemas/"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")

BEARER_SECURITY_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "an access token from POST /api/identity/token",
}

Access = Literal["admin", "user", "optional"]


def _dependency(annotation: Any) -> Callable[..., Any]:
    call: Callable[..., Any] = annotation.__metadata__[0].dependency
    return call


_ACCESS: dict[Callable[..., Any], Access] = {
    _dependency(AdminUser): "admin",
    _dependency(CurrentUser): "user",
    _dependency(OptionalUser): "optional",
}
_RANK: dict[Access, int] = {"optional": 0, "user": 1, "admin": 2}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _access(route: APIRoute) -> Access | None:
    found = [_ACCESS[call] for call in _calls(route.dependant) if call in _ACCESS]
    if not found:
        return None
    return max(found, key=lambda access: _RANK[access])


def _problem(status: int, description: str | None = None) -> dict[str, Any]:
    ref = VALIDATION_PROBLEM_REF if status == 422 else PROBLEM_REF
    return {
        "description": description or HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": ref}}},
    }


_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": "the bearer challenge", "schema": {"type": "string"}}
}


def declare_problems(operation: dict[str, Any], problems: Mapping[int, str]) -> None:
    """Add ``problems`` (status: description) the operation does not list yet, and
    make every 4xx/5xx response it lists a problem+json one."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, description in problems.items():
        responses.setdefault(str(status), {"description": description})
    for key, response in responses.items():
        if not (key.isdigit() and 400 <= int(key) <= 599):
            continue
        status = int(key)
        documented = _problem(status, response.get("description"))
        if status == 401:
            documented["headers"] = _WWW_AUTHENTICATE
        elif status in (429, 503):
            documented["headers"] = _RETRY_AFTER
        responses[key] = documented


def _complete(operation: dict[str, Any], access: Access | None) -> None:
    common: dict[int, str] = {
        500: "an unexpected error (logged; no details are returned)",
        503: "the service is at capacity, or a service this request needs cannot "
        "answer now; nothing was done",
        504: "the caller's deadline (X-Emporium-Deadline-Ms) passed before the answer",
    }
    if "requestBody" in operation:
        common[400] = "the body is not parseable"
        common[413] = "the body is too large"
    if access is not None:
        common[401] = "no valid bearer token" if access != "optional" else "invalid bearer token"
        if access != "optional":
            operation["security"] = [{BEARER_SCHEME: []}]
    if access == "admin":
        common[403] = "not an admin"
    declare_problems(operation, common)


def _referenced(node: Any, names: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_SCHEMA_PREFIX):
            names.add(ref[len(_SCHEMA_PREFIX) :])
        for value in node.values():
            _referenced(value, names)
    elif isinstance(node, list):
        for item in node:
            _referenced(item, names)


def complete_document(document: dict[str, Any], access: dict[tuple[str, str], Access]) -> None:
    """Complete ``document`` in place; ``access`` maps (path, method) to the route's auth."""
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                _complete(item[method], access.get((path, method)))
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ValidationProblem"] = VALIDATION_PROBLEM_SCHEMA
    used: set[str] = set()
    _referenced(document.get("paths", {}), used)
    _referenced({k: v for k, v in schemas.items() if k not in _FASTAPI_422}, used)
    for name in _FASTAPI_422:
        if name not in used:
            schemas.pop(name, None)
    if any("security" in op for item in document.get("paths", {}).values() for op in item.values()):
        components.setdefault("securitySchemes", {})[BEARER_SCHEME] = BEARER_SECURITY_SCHEME


def document_responses(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document list every response the chassis gives."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        access: dict[tuple[str, str], Access] = {}
        # Included routers are expanded lazily; the contexts list their routes.
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if isinstance(route, APIRoute) and route.include_in_schema:
                level = _access(route)
                if level is not None:
                    for method in route.methods or ():
                        access[(route.path_format, method.lower())] = level
        complete_document(document, access)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _integral_float(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# A JSON Schema "integer" is any number with no fractional part: 3.0 is one.
# Pydantic's lax int would also take "3" (which the schema refuses), its strict
# int refuses 3.0 (which the schema admits); this takes exactly what the
# schema says.
JsonInt = Annotated[int, BeforeValidator(_integral_float), Field(strict=True)]

# Where a list starts. Bounded, because an offset past the store's integer
# (SQLite: 2**63) was a 500 rather than an empty page.
MAX_OFFSET = 2**31 - 1
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")]
