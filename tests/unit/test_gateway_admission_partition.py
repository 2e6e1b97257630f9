"""Which adaptive limit at the gateway a request counts against, if any."""

from __future__ import annotations

from typing import Any

import pytest

from emporium.services.gateway.cache import ResponseCache
from emporium.services.gateway.proxy import admission_partition
from emporium.services.gateway.registry import InstanceSpec, Upstreams


def asgi_scope(method: str, path: str, query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": query}


@pytest.fixture
def partition() -> Any:
    upstreams = Upstreams()
    upstreams.update(
        [
            InstanceSpec("orders", "orders-1", "http://127.0.0.1:9"),
            InstanceSpec("catalog", "catalog-1", "http://127.0.0.1:9"),
        ]
    )
    return admission_partition(upstreams)


ORDER = "/api/orders/5d0c9a47-8f3e-4b2a-9d61-2c7e0f4a8b13"


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", ORDER, b"", "orders read"),
        ("POST", "/api/orders", b"", "orders write"),
        ("GET", "/api/catalog/products", b"limit=20", "catalog read"),
        # A long poll takes as long as it was asked to wait: no sample of load.
        ("GET", ORDER, b"wait=10", None),
        ("GET", ORDER, b"x=1&wait=0.5", None),
        # No wait, or a wait of nothing, is an ordinary read.
        ("GET", ORDER, b"wait=0", "orders read"),
        ("GET", ORDER, b"wait=0.0", "orders read"),
        ("GET", ORDER, b"await=5", "orders read"),
        # Only the API's long poll: elsewhere ?wait= changes nothing.
        ("GET", "/api/catalog/products", b"wait=10", "catalog read"),
        ("GET", "/api/orders", b"wait=10", "orders read"),
        ("POST", f"{ORDER}/cancel", b"wait=10", "orders write"),
        ("GET", "/api/unknown/things", b"", None),
    ],
)
def test_a_request_counts_against_its_services_limit_unless_it_is_a_long_poll(
    partition: Any, method: str, path: str, query: bytes, expected: str | None
) -> None:
    assert partition(asgi_scope(method, path, query)) == expected


async def test_a_read_the_gateway_answers_from_what_it_keeps_counts_against_no_limit() -> None:
    upstreams = Upstreams()
    upstreams.update([InstanceSpec("catalog", "catalog-1", "http://127.0.0.1:9")])
    cache = ResponseCache(ttl=5.0, max_bytes=1024, events=False)
    partition = admission_partition(upstreams, cache)
    page = {**asgi_scope("GET", "/api/catalog/products", b"limit=20"), "headers": []}
    assert partition(page) == "catalog read"
    send = cache.filling(b"/api/catalog/products?limit=20", _nowhere)
    headers = [(b"cache-control", b"public, max-age=10")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}", "more_body": False})
    assert partition(page) is None  # kept: catalog is not asked
    # Catalog is asked, so it counts: another page, or one that passes the cache by.
    assert partition({**page, "query_string": b"limit=10"}) == "catalog read"
    assert partition({**page, "headers": [(b"cache-control", b"no-cache")]}) == "catalog read"
    cache.forget()
    assert partition(page) == "catalog read"


async def _nowhere(_message: Any) -> None:
    pass
