"""The admission middleware in-process: deadlines (504), the limit (503), what is exempt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emporium.chassis import deadline
from emporium.chassis.overload import AdmissionMiddleware, LimitSettings, routes
from emporium.chassis.problems import UPSTREAM_DOWN

ONE_AT_A_TIME = LimitSettings(initial=1, min_limit=1, max_limit=1)


class Held:
    """A route that waits until released, to keep a request in flight."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = False

    async def handle(self, _request: Request) -> Response:
        self.entered.set()
        await self.release.wait()
        self.finished = True
        return JSONResponse({"held": True})


async def remaining(_request: Request) -> Response:
    return JSONResponse({"remaining": deadline.remaining()})


async def commits_late(_request: Request) -> Response:
    with deadline.finishing():
        await asyncio.sleep(0.1)  # past a 20 ms deadline: must still complete
    return JSONResponse({"committed": True})


def app_with(held: Held, limits: LimitSettings = ONE_AT_A_TIME) -> AdmissionMiddleware:
    app = Starlette(
        routes=[
            Route("/api/things", held.handle, methods=["POST"]),
            Route("/api/things", remaining, methods=["GET"]),
            Route("/api/commit", commits_late, methods=["POST"]),
            Route("/health/ready", remaining, methods=["GET"]),
        ]
    )
    return AdmissionMiddleware(
        app, service="demo", partition=routes({"POST /api/things": "things"}), limits=limits
    )


@pytest.fixture
async def held() -> AsyncIterator[Held]:
    held = Held()
    yield held
    held.release.set()


def client(app: AdmissionMiddleware) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def test_over_the_limit_is_a_503_with_retry_after_at_once_and_nothing_runs(
    held: Held,
) -> None:
    app = app_with(held)
    async with client(app) as http:
        first = asyncio.create_task(http.post("/api/things"))
        await held.entered.wait()
        held.entered.clear()
        refused = await http.post("/api/things")
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["status"] == 503
        assert not held.entered.is_set()  # the refused request never reached the route
        held.release.set()
        assert (await first).status_code == 200
        assert app.limiters["things"].in_flight == 0
        assert app.limiters["things"].rejected == 1


async def test_routes_outside_a_partition_and_health_are_never_shed(held: Held) -> None:
    app = app_with(held)
    async with client(app) as http:
        first = asyncio.create_task(http.post("/api/things"))
        await held.entered.wait()
        assert (await http.get("/api/things")).status_code == 200
        assert (await http.get("/health/ready", headers={deadline.HEADER: "0"})).status_code == 200
        held.release.set()
        await first


@pytest.mark.parametrize("spent", ["0", "-20"])
async def test_a_spent_deadline_is_a_504_before_any_work(held: Held, spent: str) -> None:
    async with client(app_with(held)) as http:
        response = await http.post("/api/things", headers={deadline.HEADER: spent})
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    assert not held.entered.is_set()


async def test_the_route_sees_the_callers_remaining_time(held: Held) -> None:
    async with client(app_with(held)) as http:
        timed = (await http.get("/api/things", headers={deadline.HEADER: "5000"})).json()
        untimed = (await http.get("/api/things")).json()
    assert 4.0 < timed["remaining"] <= 5.0
    assert untimed["remaining"] is None


async def test_work_still_running_at_the_deadline_is_cancelled_and_answered_504(
    held: Held,
) -> None:
    app = app_with(held, LimitSettings())
    async with client(app) as http:
        response = await http.post("/api/things", headers={deadline.HEADER: "20"})
    assert response.status_code == 504
    assert held.entered.is_set()
    assert not held.finished
    assert app.limiters["things"].in_flight == 0


async def test_work_under_finishing_completes_past_the_deadline(held: Held) -> None:
    async with client(app_with(held)) as http:
        response = await http.post("/api/commit", headers={deadline.HEADER: "20"})
    assert response.status_code == 200
    assert response.json() == {"committed": True}


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("", None), ("soon", None), ("1500", 1.5), ("0", 0.0), ("-3", -0.003)],
)
def test_the_deadline_header_is_milliseconds_left(
    header: str | None, seconds: float | None
) -> None:
    assert deadline.parse_remaining(header) == seconds


def test_the_header_says_whole_milliseconds_and_never_less_than_zero() -> None:
    assert deadline.format_remaining(1.2349) == "1234"
    assert deadline.format_remaining(-1.0) == "0"


def answering(endpoint: Callable[[Request], Awaitable[Response]]) -> AdmissionMiddleware:
    """``POST /api/one`` answered by ``endpoint``, in a partition of its own whose limit
    (32) moves after every request."""
    return AdmissionMiddleware(
        Starlette(routes=[Route("/api/one", endpoint, methods=["POST"])]),
        service="demo",
        partition=routes({"POST /api/one": "one"}),
        limits=LimitSettings(initial=32, window=0.0, min_samples=1),
    )


async def test_a_503_from_further_in_backs_the_limit_off(held: Held) -> None:
    async def shed(_request: Request) -> Response:
        return JSONResponse({"status": 503}, status_code=503)

    app = answering(shed)
    async with client(app) as http:
        for _ in range(5):
            assert (await http.post("/api/one")).status_code == 503
    assert app.limiters["one"].limit < 32


async def test_a_503_for_an_upstream_whose_circuit_is_open_leaves_the_limit_alone() -> None:
    async def dependency_down(_request: Request) -> Response:
        return JSONResponse({"status": 503}, status_code=503, headers={UPSTREAM_DOWN: "catalog"})

    app = answering(dependency_down)
    async with client(app) as http:
        for _ in range(5):
            answer = await http.post("/api/one")
            assert answer.status_code == 503
            assert answer.headers[UPSTREAM_DOWN] == "catalog"
    assert app.limiters["one"].limit == 32
    assert app.limiters["one"].in_flight == 0
