"""docs/api.md is the public API contract: it names every route the services serve,
and the repository cites only documents it contains."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.routing import APIRoute

import emporium.services

REPO = Path(__file__).resolve().parents[2]
API_DOC = REPO / "docs" / "api.md"
# How a documented endpoint is written in docs/api.md: `METHOD /path` (query after ?).
DOCUMENTED = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[^\s`?,]*)")


def _shape(path: str) -> str:
    """``/api/orders/{order_id}`` and ``/api/orders/{id}`` are the same route."""
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/"))


def _served() -> set[tuple[str, str]]:
    """(method, path) of every route on a module-level ``router`` of a service."""
    routes: set[tuple[str, str]] = set()
    for module in pkgutil.walk_packages(emporium.services.__path__, "emporium.services."):
        # The storefront serves pages for people, outside the API contract.
        # The storefront serves pages for people, outside the API contract; an
        # Alembic env only runs inside a migration.
        skipped = ".storefront" in module.name or ".migrations" in module.name
        if module.name.endswith(("__main__", ".seed")) or skipped:
            continue
        router = getattr(importlib.import_module(module.name), "router", None)
        if isinstance(router, APIRouter):
            for route in router.routes:
                if isinstance(route, APIRoute):
                    routes.update((m, _shape(route.path)) for m in route.methods or ())
    return routes


def test_every_route_a_service_serves_is_documented_in_api_md() -> None:
    documented = {(m, _shape(p)) for m, p in DOCUMENTED.findall(API_DOC.read_text())}
    served = _served()
    assert len(served) > 30, "the routers were not found"
    assert served - documented == set(), "add these to docs/api.md"


def test_the_repository_cites_no_document_outside_itself() -> None:
    # Spelled in pieces so that this line does not cite itself.
    outside = re.compile("BRIEF" + r"\.md|/work/" + "shared|the (product )?" + r"brief\b", re.I)
    citing = [
        f"{path.relative_to(REPO)}:{number}"
        for top in ("src", "tests", "docs", "README.md")
        for path in ([REPO / top] if top.endswith(".md") else sorted((REPO / top).rglob("*")))
        if path.suffix in {".py", ".md"} and path.is_file()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if outside.search(line)
    ]
    assert citing == [], "cite docs/api.md or another document of this repository instead"
