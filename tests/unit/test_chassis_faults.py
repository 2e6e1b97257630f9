"""Fault injection in the chassis: delays, errors, expiry, what is exempt, and who may set one."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emporium.chassis import ChassisSettings, create_service
from emporium.chassis.faults import FAULT_HEADER, FaultMiddleware, FaultRequest, FaultSwitch


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Handled:
    """The service behind the middleware: counts what reached it."""

    def __init__(self) -> None:
        self.count = 0

    async def handle(self, _request: Request) -> Response:
        self.count += 1
        return JSONResponse({"handled": True})


def chances(*values: float) -> Iterator[float]:
    yield from values


def faulted(switch: FaultSwitch, handled: Handled) -> httpx.AsyncClient:
    routes = [
        Route(path, handled.handle, methods=["GET", "PUT"])
        for path in ("/api/demo/things", "/health/ready", "/health/live", "/metrics",
                     "/internal/fault", "/internal/spans")
    ]  # fmt: skip
    app = FaultMiddleware(Starlette(routes=routes), switch=switch)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo")


async def test_without_a_fault_every_request_reaches_the_service_untouched() -> None:
    handled = Handled()
    async with faulted(FaultSwitch(), handled) as client:
        for _ in range(20):
            assert (await client.get("/api/demo/things")).status_code == 200
    assert handled.count == 20


async def test_a_latency_fault_delays_each_request_by_its_milliseconds() -> None:
    switch, handled = FaultSwitch(), Handled()
    switch.set(FaultRequest(delay_ms=150, seconds=30))
    async with faulted(switch, handled) as client:
        for _ in range(2):
            started = time.perf_counter()
            response = await client.get("/api/demo/things")
            assert time.perf_counter() - started >= 0.15
            assert response.status_code == 200
    assert handled.count == 2


async def test_an_error_fault_answers_its_share_with_a_problem_and_never_reaches_the_service() -> (
    None
):
    # A request fails when its draw is below the rate: 0.1 and 0.3 fail, 0.9 and 0.7 pass.
    draws = chances(0.1, 0.9, 0.3, 0.7)
    switch, handled = FaultSwitch(chance=lambda: next(draws)), Handled()
    switch.set(FaultRequest(error_rate=0.5, error_status=500, seconds=30))
    async with faulted(switch, handled) as client:
        responses = [await client.get("/api/demo/things") for _ in range(4)]
    assert [r.status_code for r in responses] == [500, 200, 500, 200]
    assert handled.count == 2
    failed = responses[0]
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.headers[FAULT_HEADER] == "error"
    assert failed.json()["status"] == 500
    assert "Injected fault" in failed.json()["detail"]


async def test_an_error_rate_of_one_fails_every_request_with_503_by_default() -> None:
    switch, handled = FaultSwitch(), Handled()
    switch.set(FaultRequest(error_rate=1.0, seconds=30))
    async with faulted(switch, handled) as client:
        statuses = {(await client.put("/api/demo/things")).status_code for _ in range(10)}
    assert statuses == {503}
    assert handled.count == 0


async def test_a_fault_stops_applying_by_itself_after_its_seconds() -> None:
    clock, handled = FakeClock(), Handled()
    switch = FaultSwitch(clock=clock)
    switch.set(FaultRequest(error_rate=1.0, seconds=5))
    async with faulted(switch, handled) as client:
        clock.now += 4.9
        assert (await client.get("/api/demo/things")).status_code == 503
        clock.now += 0.1
        assert (await client.get("/api/demo/things")).status_code == 200
    assert switch.current is None  # forgotten, so later requests pay nothing again
    assert handled.count == 1


@pytest.mark.parametrize(
    "path", ["/health/ready", "/health/live", "/metrics", "/internal/fault", "/internal/spans"]
)
async def test_probes_scrapes_and_control_are_never_faulted(path: str) -> None:
    switch, handled = FaultSwitch(), Handled()
    switch.set(FaultRequest(delay_ms=5000, error_rate=1.0, seconds=30))
    async with faulted(switch, handled) as client:
        started = time.perf_counter()
        assert (await client.get(path)).status_code == 200
        assert time.perf_counter() - started < 1.0
    assert handled.count == 1


def demo_service(chassis: ChassisSettings) -> FastAPI:
    router = APIRouter()

    @router.get("/api/demo/things")
    async def things() -> dict[str, bool]:
        return {"handled": True}

    return create_service("demo", chassis=chassis, routers=[router])


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo")


async def test_without_fault_injection_allowed_the_endpoint_refuses_and_nothing_is_faulted() -> (
    None
):
    app = demo_service(ChassisSettings())
    assert app.state.faults is None
    assert FaultMiddleware not in [getattr(layer, "cls", None) for layer in app.user_middleware]
    async with client_of(app) as client:
        for method in ("GET", "PUT", "DELETE"):
            response = await client.request(
                method, "/internal/fault", json={"error_rate": 1, "seconds": 30}
            )
            assert response.status_code == 403, response.text
            assert "EMPORIUM_FAULT_INJECTION" in response.json()["detail"]
        assert (await client.get("/api/demo/things")).status_code == 200


async def test_an_allowed_instance_sets_reads_and_clears_its_fault_through_the_endpoint() -> None:
    async with client_of(demo_service(ChassisSettings(fault_injection=True))) as client:
        assert (await client.get("/internal/fault")).json() == {"fault": None}
        put = await client.put("/internal/fault", json={"error_rate": 1, "seconds": 30})
        assert put.status_code == 200, put.text
        assert put.json()["fault"]["error_rate"] == 1
        assert put.json()["fault"]["error_status"] == 503
        assert (await client.get("/api/demo/things")).status_code == 503
        shown = (await client.get("/internal/fault")).json()["fault"]
        assert 29 <= shown["remaining_s"] <= 30
        cleared = await client.delete("/internal/fault")
        assert cleared.json() == {"cleared": True, "fault": None}
        assert (await client.get("/api/demo/things")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"error_rate": 0.5},  # no duration: a fault always ends
        {"seconds": 5},  # neither delay nor errors
        {"error_rate": 1.5, "seconds": 5},
        {"error_rate": 1, "error_status": 200, "seconds": 5},
        {"delay_ms": 10, "seconds": 5, "sticky": True},
    ],
)
async def test_a_fault_that_does_not_make_sense_is_refused_with_what_is_wrong(
    body: dict[str, object],
) -> None:
    async with client_of(demo_service(ChassisSettings(fault_injection=True))) as client:
        response = await client.put("/internal/fault", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("Invalid fault")
        assert (await client.get("/internal/fault")).json() == {"fault": None}


def test_the_prod_profile_refuses_fault_injection() -> None:
    with pytest.raises(ValidationError, match="EMPORIUM_FAULT_INJECTION"):
        ChassisSettings(profile="prod", fault_injection=True)
