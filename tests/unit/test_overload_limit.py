"""The adaptive concurrency limit, driven by a fake clock: no sleeping, no timing flakes."""

from __future__ import annotations

import pytest

from emporium.chassis import ChassisSettings
from emporium.chassis.overload import AdaptiveLimiter, GradientLimit, LimitSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


SETTINGS = LimitSettings(
    initial=16, min_limit=2, max_limit=64, slack=0.0, window=0.1, min_samples=5
)


def feed(
    limit: GradientLimit, clock: FakeClock, latency: float, in_flight: int, windows: int
) -> None:
    """``windows`` sample windows of 5 requests each, all of ``latency`` s."""
    for _ in range(windows):
        for _ in range(5):
            clock.now += 0.025
            limit.sample(latency, in_flight)


def test_the_limit_grows_while_latency_stays_at_the_baseline_and_the_limit_is_used() -> None:
    clock = FakeClock()
    limit = GradientLimit(SETTINGS, clock=clock)
    feed(limit, clock, 0.010, in_flight=16, windows=5)
    assert limit.limit > 16


def test_an_idle_service_does_not_raise_its_limit() -> None:
    clock = FakeClock()
    limit = GradientLimit(SETTINGS, clock=clock)
    feed(limit, clock, 0.010, in_flight=2, windows=20)
    assert limit.limit == 16


def test_latency_past_the_tolerance_shrinks_the_limit_to_its_headroom() -> None:
    clock = FakeClock()
    limit = GradientLimit(SETTINGS, clock=clock)
    feed(limit, clock, 0.010, in_flight=16, windows=2)  # the baseline: 10 ms
    before = limit.limit
    feed(limit, clock, 0.200, in_flight=16, windows=3)  # 20x the baseline: queueing
    assert limit.limit < before
    feed(limit, clock, 0.200, in_flight=16, windows=60)
    # Halved each window, plus sqrt(limit) of headroom: it settles at 4.
    assert limit.limit <= 4


def test_the_limit_never_passes_its_maximum() -> None:
    clock = FakeClock()
    limit = GradientLimit(SETTINGS, clock=clock)
    feed(limit, clock, 0.010, in_flight=64, windows=200)
    assert limit.limit == SETTINGS.max_limit


def test_latency_within_the_tolerance_is_not_taken_for_queueing() -> None:
    clock = FakeClock()
    limit = GradientLimit(SETTINGS, clock=clock)
    feed(limit, clock, 0.010, in_flight=16, windows=1)
    before = limit.limit
    feed(limit, clock, 0.019, in_flight=16, windows=3)  # under 2x the baseline
    assert limit.limit >= before


def test_timed_out_requests_back_the_limit_off() -> None:
    clock = FakeClock()
    limit = GradientLimit(SETTINGS, clock=clock)
    for _ in range(3):
        clock.now += 0.2
        limit.sample(1.0, 16, dropped=True)
    assert limit.limit < 16


def test_slack_keeps_a_few_milliseconds_of_queueing_from_shrinking_the_limit() -> None:
    clock = FakeClock()
    limit = GradientLimit(
        LimitSettings(initial=16, slack=0.05, window=0.1, min_samples=5), clock=clock
    )
    feed(limit, clock, 0.003, in_flight=16, windows=1)
    before = limit.limit
    feed(limit, clock, 0.030, in_flight=16, windows=5)  # 10x a 3 ms baseline, 30 ms
    assert limit.limit >= before


def test_the_baseline_is_forgotten_after_two_baseline_windows() -> None:
    clock = FakeClock()
    settings = LimitSettings(window=0.1, min_samples=1, baseline_window=10.0)
    limit = GradientLimit(settings, clock=clock)
    limit.sample(0.001, 1)
    assert limit.baseline == pytest.approx(0.001)
    for _ in range(25):  # 25 s of slower answers
        clock.now += 1.0
        limit.sample(0.050, 1)
    assert limit.baseline == pytest.approx(0.050)


def test_settings_refuse_an_initial_limit_outside_min_and_max() -> None:
    with pytest.raises(ValueError, match="min_limit"):
        LimitSettings(initial=1, min_limit=2, max_limit=10)


def test_the_limiter_refuses_at_once_past_the_limit_and_admits_again_after_a_release() -> None:
    clock = FakeClock()
    seen: list[tuple[int, int]] = []
    limiter = AdaptiveLimiter(
        LimitSettings(initial=2, min_limit=1, max_limit=2),
        clock=clock,
        on_change=lambda limit, in_flight: seen.append((limit, in_flight)),
    )
    first, second = limiter.try_acquire(), limiter.try_acquire()
    assert first is not None
    assert second is not None
    assert limiter.try_acquire() is None
    assert limiter.rejected == 1
    first.release()
    first.release()  # a second release is ignored
    assert limiter.in_flight == 1
    assert limiter.try_acquire() is not None
    assert seen[-1] == (2, 2)


def test_a_request_whose_latency_says_nothing_is_not_a_sample() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(LimitSettings(window=0.0, min_samples=1), clock=clock)
    ticket = limiter.try_acquire()
    assert ticket is not None
    clock.now += 5.0
    ticket.release(measured=False)
    assert limiter.gradient.baseline == float("inf")
    assert limiter.in_flight == 0


def test_a_maximum_of_one_pins_the_limit_whatever_min_and_initial_say() -> None:
    limits = ChassisSettings(overload_max_limit=1).limit_settings()
    assert (limits.min_limit, limits.initial, limits.max_limit) == (1, 1, 1)
