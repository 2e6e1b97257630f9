"""The merged OpenAPI document of every service, served at ``/api/openapi.json``.

Each service publishes its own document at ``/api/<service>/openapi.json``; the
gateway fetches them from ready instances, merges ``paths`` and
``components.schemas`` and caches the result for ``openapi_ttl`` seconds. A
service that is down is listed under ``x-emporium-unavailable`` instead of
failing the whole document. Two services may define a schema with the same
name: identical definitions are shared, different ones are renamed
``<service>.<Name>`` with every ``$ref`` in that service's document rewritten.
Every operation also lists what the gateway itself may answer in front of the
service (``GATEWAY_PROBLEMS``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from emporium.chassis.openapi import declare_problems
from emporium.services.gateway.registry import Instance, Upstreams

__all__ = ["GATEWAY_PROBLEMS", "OpenApiAggregator", "merge_openapi"]

logger = logging.getLogger(__name__)

_SCHEMA_REF = "#/components/schemas/"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# What the edge answers on any route before (or instead of) the service.
GATEWAY_PROBLEMS = {
    401: "the bearer token is invalid or expired (checked at the edge on every route)",
    429: "rate limited; retry after Retry-After",
    502: "the service's connection failed or it sent a bad response",
    503: "no instance of the service is ready; retry after Retry-After",
    504: "the service did not answer in time",
}


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_SCHEMA_REF):
                name = value[len(_SCHEMA_REF) :]
                out[key] = _SCHEMA_REF + renames.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def merge_openapi(
    documents: Mapping[str, Mapping[str, Any]],
    *,
    title: str = "Emporium API",
    version: str = "1.0.0",
    unavailable: list[str] | None = None,
) -> dict[str, Any]:
    """Merge per-service documents (keyed by service name) into one."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    security_schemes: dict[str, Any] = {}
    tags: list[dict[str, Any]] = []
    for service in sorted(documents):
        document = documents[service]
        own: Mapping[str, Any] = document.get("components", {}).get("schemas", {})
        renames = {
            name: f"{service}.{name}"
            for name, schema in own.items()
            if name in schemas and schemas[name] != _rewrite_refs(schema, {})
        }
        for name, schema in own.items():
            schemas[renames.get(name, name)] = _rewrite_refs(schema, renames)
        security_schemes.update(document.get("components", {}).get("securitySchemes", {}))
        for path, item in document.get("paths", {}).items():
            paths[path] = _rewrite_refs(item, renames)
            for method in _METHODS:
                if method in paths[path]:
                    declare_problems(paths[path][method], GATEWAY_PROBLEMS)
        description = document.get("info", {}).get("description")
        tags.append({"name": service, **({"description": description} if description else {})})
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
        "tags": tags,
    }
    if security_schemes:
        merged["components"]["securitySchemes"] = security_schemes
    if unavailable:
        merged["x-emporium-unavailable"] = sorted(unavailable)
    return merged


class OpenApiAggregator:
    """Fetches, merges and briefly caches the services' OpenAPI documents."""

    def __init__(
        self,
        upstreams: Upstreams,
        instance_for: Callable[[str], Awaitable[Instance | None]],
        session: Callable[[], aiohttp.ClientSession],
        *,
        ttl: float = 5.0,
        timeout: float = 2.0,
    ) -> None:
        self.upstreams = upstreams
        self.instance_for = instance_for  # discovery's: a ready instance, or None
        self._session = session
        self.ttl = ttl
        self.timeout = timeout
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def document(self) -> dict[str, Any]:
        async with self._lock:  # one fetch round at a time, the rest read its result
            if self._cached is not None and time.monotonic() - self._cached[0] < self.ttl:
                return self._cached[1]
            services = sorted(self.upstreams.services)
            fetched = await asyncio.gather(*(self._fetch(service) for service in services))
            documents = {
                s: d for s, d in zip(services, fetched, strict=True) if isinstance(d, dict)
            }
            missing = [s for s, d in zip(services, fetched, strict=True) if d is None]
            merged = merge_openapi(documents, unavailable=missing)
            self._cached = (time.monotonic(), merged)
            return merged

    async def _fetch(self, service: str) -> dict[str, Any] | bool | None:
        """The service's document; False if it publishes none (404); None if unreachable."""
        instance = await self.instance_for(service)
        if instance is None:
            return None
        url = f"{instance.url}/api/{service}/openapi.json"
        try:
            async with self._session().get(
                url, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as response:
                if response.status == 404:
                    return False  # the storefront, say: pages, no API
                if response.status != 200:
                    return None
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("no OpenAPI from %s: %r", url, exc)
            return None
        return document if isinstance(document, dict) else None
