"""The chassis app factory: problem+json everywhere, request ids, health, metrics.

Integration, not unit: the app's store is a real (in-memory) SQLite database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import MetaData

from emporium.chassis import ChassisSettings, Problem, Runtime, create_service
from emporium.chassis.app import _Server
from emporium.chassis.http import UpstreamUnavailable
from emporium.launcher.nats import free_port

router = APIRouter()


class Item(BaseModel):
    name: str
    quantity: int


@router.get("/api/demo/items/{item_id}")
async def get_item(item_id: int) -> dict[str, int]:
    if item_id == 404:
        raise Problem(404, "No item 404")
    if item_id == 500:
        raise RuntimeError("secret internal detail")
    return {"id": item_id}


@router.get("/api/demo/upstream")
async def call_upstream() -> None:
    raise UpstreamUnavailable("catalog", "circuit open", reason="circuit_open", retry_after=4.2)


@router.post("/api/demo/items")
async def post_item(item: Item) -> Item:
    return item


class Toggle:
    """A component whose readiness a test can flip."""

    def __init__(self) -> None:
        self.is_ready = True
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def ready(self) -> bool:
        return self.is_ready


@pytest.fixture
def toggle() -> Toggle:
    return Toggle()


@pytest.fixture
def app(toggle: Toggle) -> FastAPI:
    return create_service(
        "demo",
        routers=[router],
        chassis=ChassisSettings(instance="demo-1"),
        metadata=MetaData(),
        database_url="sqlite+aiosqlite:///:memory:",
        components=lambda _runtime: {"broker": toggle},
        max_body=1000,
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as c:
            yield c


def _is_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    return body


async def test_raised_problem_becomes_problem_json(client: httpx.AsyncClient) -> None:
    body = _is_problem(await client.get("/api/demo/items/404"), 404)
    assert body["detail"] == "No item 404"
    assert body["instance"] == "/api/demo/items/404"


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    _is_problem(await client.get("/no/such/thing"), 404)


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    _is_problem(await client.delete("/api/demo/items/1"), 405)


async def test_validation_error_is_422_problem_naming_the_field(client: httpx.AsyncClient) -> None:
    body = _is_problem(await client.post("/api/demo/items", json={"name": "x"}), 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert any(e["loc"][-1] == "quantity" for e in errors)


async def test_malformed_json_is_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/demo/items", content=b"{not json", headers={"content-type": "application/json"}
    )
    _is_problem(response, 422)


async def test_oversized_body_is_413_problem(client: httpx.AsyncClient) -> None:
    _is_problem(await client.post("/api/demo/items", content=b"x" * 5000), 413)


async def test_oversized_chunked_body_is_413_problem(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 200

    _is_problem(await client.post("/api/demo/items", content=chunks()), 413)


async def test_unhandled_error_is_500_problem_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/demo/items/500")
    body = _is_problem(response, 500)
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert body["request_id"] == response.headers["x-request-id"]


async def test_an_unavailable_upstream_is_a_503_problem_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/demo/upstream")
    body = _is_problem(response, 503)
    assert body["upstream"] == "catalog"
    assert response.headers["retry-after"] == "4"


async def test_request_id_is_kept_when_given_and_made_when_not(client: httpx.AsyncClient) -> None:
    given = await client.get("/api/demo/items/1", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/api/demo/items/1")
    assert len(made.headers["x-request-id"]) == 32


async def test_ready_reflects_store_and_components(
    client: httpx.AsyncClient, toggle: Toggle
) -> None:
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"store": True, "broker": True}
    toggle.is_ready = False
    not_ready = await client.get("/health/ready")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["broker"] is False
    assert (await client.get("/health/live")).status_code == 200


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/demo/items/7")
    text = (await client.get("/metrics")).text
    assert 'route="/api/demo/items/{item_id}"' in text
    assert "emporium_http_request_duration_seconds_bucket" in text


async def test_components_start_and_stop_with_the_service(app: FastAPI, toggle: Toggle) -> None:
    async with app.router.lifespan_context(app):
        assert toggle.started
        assert not toggle.stopped
    assert toggle.stopped


held = APIRouter()


@held.get("/api/demo/held")
async def hold_until_draining(request: Request) -> dict[str, str]:
    """A long poll in miniature: held until the process starts to stop."""
    released = asyncio.Event()
    request.app.state.runtime.when_draining(released.set)
    try:
        await asyncio.wait_for(released.wait(), 30)
    except TimeoutError:
        return {"answer": "timed out"}
    return {"answer": "released"}


async def test_a_stopping_server_lets_go_of_held_requests_before_waiting_for_them() -> None:
    # uvicorn waits up to its graceful timeout (10 s) for requests in flight;
    # a request held open would hold the stop up that long, then be cut off.
    app = create_service("demo", chassis=ChassisSettings(), routers=[held])
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = _Server(config, on_stop=app.state.runtime.drain)
    serving = asyncio.create_task(server.serve())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        request = asyncio.create_task(client.get("/api/demo/held"))
        await asyncio.sleep(0.3)
        assert not request.done()
        started = time.monotonic()
        server.should_exit = True  # what SIGTERM does
        answer = await asyncio.wait_for(request, 5)
        assert (answer.status_code, answer.json()) == (200, {"answer": "released"})
        await asyncio.wait_for(serving, 5)
    assert time.monotonic() - started < 3


def test_draining_runs_each_callback_once_even_past_one_that_fails() -> None:
    runtime = Runtime(name="demo", settings=ChassisSettings())
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("a callback that breaks")

    runtime.when_draining(lambda: calls.append("a"))
    runtime.when_draining(broken)
    runtime.when_draining(lambda: calls.append("b"))
    runtime.drain()
    runtime.drain()
    assert calls == ["a", "b"]
