"""The load tools' measuring: open-loop timing, percentiles, the report, the loopback guard."""

from __future__ import annotations

import asyncio
import math

import pytest

from emporium.loadgen import NotLoopbackError, OpenLoop, Recorder, percentile, require_loopback


class FakeTime:
    """A clock that only moves when someone sleeps (or a test stalls it)."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)  # requests already started run first, at the current time
        self.now += seconds


async def test_open_loop_sends_at_the_rate_and_times_from_the_intended_send_time() -> None:
    time = FakeTime()
    loop: OpenLoop[tuple[float, float]] = OpenLoop(10.0, clock=time.clock, sleep=time.sleep)

    async def send(index: int, intended: float) -> tuple[float, float]:
        sent = time.clock()
        if index == 2:
            time.now += 0.5  # the generator stalls (a GC pause, a busy core) before sending
        return intended, loop.latency(intended) if index == 2 else sent - intended

    results = await loop.run(5, send)
    intended = [round(r[0] - 100.0, 3) for r in results]
    assert intended == [0.0, 0.1, 0.2, 0.3, 0.4]
    # The stalled arrival's latency includes the stall, not just the request.
    assert results[2][1] == pytest.approx(0.5)
    # Arrivals after the stall were due before the clock got there: they are late,
    # and the loop says by how much instead of quietly sending fewer.
    assert loop.max_lag == pytest.approx(0.5)
    assert results[3][1] == pytest.approx(0.5)  # timed from when it was due, lag included


async def test_a_slow_answer_does_not_delay_the_next_arrival() -> None:
    time = FakeTime()
    loop: OpenLoop[float] = OpenLoop(4.0, clock=time.clock, sleep=time.sleep)
    starts: list[float] = []
    first_answer = asyncio.Event()

    async def send(index: int, intended: float) -> float:
        starts.append(time.clock())
        if index == 0:
            await first_answer.wait()  # the first answer comes only after all the others
        elif index == 3:
            first_answer.set()
        return loop.latency(intended)

    latencies = await loop.run(4, send)
    assert [round(s - 100.0, 2) for s in starts] == [0.0, 0.25, 0.5, 0.75]
    assert latencies[0] == pytest.approx(0.75)
    assert loop.max_lag == 0.0
    assert loop.count_for(2.5) == 10


def test_open_loop_refuses_a_rate_of_zero() -> None:
    with pytest.raises(ValueError, match="rate"):
        OpenLoop(0)


def test_percentile_is_the_nearest_rank_and_nan_when_empty() -> None:
    samples = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(samples, 50) == 51.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_report_gives_rps_percentiles_and_errors_per_route_and_per_second() -> None:
    now = [0.0]
    recorder = Recorder(clock=lambda: now[0])
    for i in range(100):
        now[0] = i / 50  # 50 requests a second for 2 s
        recorder.record("GET /api/cart", (i + 1) / 1000)
    now[0] = 1.5
    recorder.record("POST /api/orders", 0.2, "503")
    recorder.record("POST /api/orders", 0.1, "ServerDisconnectedError")
    now[0] = 2.0
    summary = recorder.summary()

    cart = summary["routes"]["GET /api/cart"]
    assert cart["requests"] == 100
    assert cart["rps"] == 50.0
    assert (cart["p50_ms"], cart["p90_ms"], cart["p99_ms"], cart["max_ms"]) == (
        51.0, 90.0, 99.0, 100.0,
    )  # fmt: skip
    assert cart["errors"] == 0
    orders = summary["routes"]["POST /api/orders"]
    assert orders["errors"] == 2
    assert orders["causes"] == {"503": 1, "ServerDisconnectedError": 1}
    assert summary["total"]["requests"] == 102
    assert summary["total"]["errors"] == 2
    assert summary["route_seconds"]["POST /api/orders"] == {"1": [2, 2]}
    assert [t["errors"] for t in summary["timeline"]] == [0, 2]
    assert [t["requests"] for t in summary["timeline"]] == [50, 52]


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://localhost:38080/", "https://[::1]:8443", "http://127.1.2.3"],
)
def test_loopback_targets_are_allowed(url: str) -> None:
    assert require_loopback(url) == url


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1:8080", "http://192.168.1.20", "http://[2001:db8::1]/", "ftp://127.0.0.1"],
)
def test_other_targets_are_refused_with_the_reason(url: str) -> None:
    with pytest.raises(NotLoopbackError, match=r"loopback|not an http"):
        require_loopback(url)
