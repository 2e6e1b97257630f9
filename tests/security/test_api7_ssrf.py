"""API7:2023 Server Side Request Forgery: no request field makes a service fetch
a URL. The one URL a client may send, a product's ``image_url`` (admins only),
is handed to browsers as it is and never fetched by the server."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e._shop import add_to_cart
from tests.security.conftest import Caller

pytestmark = [pytest.mark.e2e, pytest.mark.security]

URL_WORDS = ("url", "uri", "link", "href", "callback", "webhook", "endpoint", "host")


def _properties(node: Any, schemas: dict[str, Any], seen: set[str]) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            yield from _properties(schemas.get(ref.rsplit("/", 1)[-1], {}), schemas, seen)
        for name, value in node.get("properties", {}).items():
            yield name
            yield from _properties(value, schemas, seen)
        for key in ("items", "allOf", "anyOf", "oneOf", "additionalProperties"):
            if key in node:
                yield from _properties(node[key], schemas, seen)
    elif isinstance(node, list):
        for item in node:
            yield from _properties(item, schemas, seen)


def test_no_request_takes_a_url_but_an_admins_product_image_url(caller: Caller) -> None:
    document = caller.http.get("/api/openapi.json").json()
    schemas = document["components"]["schemas"]
    found: set[tuple[str, str]] = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            inputs = [p.get("name", "") for p in operation.get("parameters", [])]
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                inputs += list(_properties(media.get("schema", {}), schemas, set()))
            for name in inputs:
                if any(word in name.lower() for word in URL_WORDS):
                    found.add((f"{method.upper()} {path}", name))
    assert found == {
        ("POST /api/catalog/products", "image_url"),
        ("PATCH /api/catalog/products/{product_id}", "image_url"),
    }


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP port that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    hits: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1)
                try:
                    hits.append(connection.recv(1024))
                except OSError:
                    hits.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join(timeout=2)
    server.close()


def test_a_products_image_url_is_never_fetched_by_the_server(
    caller: Caller, listener: tuple[int, list[bytes]]
) -> None:
    port, hits = listener
    admin = caller.admin()
    target = f"http://127.0.0.1:{port}/latest/meta-data/iam"
    body = {
        "sku": f"SEC-SSRF-{uuid.uuid4().hex[:6]}",
        "name": "Internal probe",
        "price": {"amount": 100, "currency": "USD"},
        "image_url": target,
    }
    created = caller.http.post("/api/catalog/products", json=body, headers=admin)
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["image_url"] == target  # for the browser, as given
    user = caller.customer()
    caller.http.get(f"/api/catalog/products/{product['id']}")
    caller.http.get(f"/api/catalog/products/{product['id']}/image")
    caller.http.get("/api/catalog/products?q=internal probe")
    add_to_cart(caller.http, user, product, quantity=1)
    caller.http.get("/api/cart", headers=user)
    time.sleep(1.0)  # time for any asynchronous consumer (inventory, cart) to misbehave
    assert hits == []
