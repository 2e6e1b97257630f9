"""The circuit breaker's state machine, driven by a fake clock (no I/O, no sleeping)."""

from __future__ import annotations

from typing import Any

import pytest

from emporium.chassis.http import BreakerState, CircuitBreaker, Permit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def state(breaker: CircuitBreaker) -> BreakerState:
    # A call, not the property, so mypy does not narrow it across transitions.
    return breaker.state


def admitted(breaker: CircuitBreaker) -> Permit:
    permit = breaker.acquire()
    assert permit is not None, f"breaker refused a call while {state(breaker).name}"
    return permit


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.record_failure(admitted(breaker))


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.record_success(admitted(breaker))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, **settings: Any) -> CircuitBreaker:
    """A breaker opening after 3 consecutive failures (rate rule off unless asked)."""
    defaults: dict[str, Any] = {"failure_threshold": 3, "cooldown": 5.0, "min_calls": 100}
    return CircuitBreaker(**(defaults | settings), clock=clock)


def test_breaker_starts_closed_and_admits_calls(clock: FakeClock) -> None:
    breaker = make(clock)
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.acquire() is not None


def test_breaker_opens_after_threshold_consecutive_failures(clock: FakeClock) -> None:
    breaker = make(clock)
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED
    fail(breaker)
    assert state(breaker) is BreakerState.OPEN
    assert breaker.acquire() is None


def test_a_success_resets_the_consecutive_failure_count(clock: FakeClock) -> None:
    breaker = make(clock)
    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED


def test_breaker_opens_when_failure_rate_in_window_reaches_threshold(clock: FakeClock) -> None:
    breaker = make(clock, failure_threshold=100, min_calls=10, failure_rate=0.5)
    for _ in range(5):  # alternate, so never two consecutive failures
        succeed(breaker)
        fail(breaker)
    assert state(breaker) is BreakerState.OPEN


def test_failure_rate_needs_min_calls_in_window(clock: FakeClock) -> None:
    breaker = make(clock, failure_threshold=100, min_calls=10, failure_rate=0.5)
    for _ in range(4):
        succeed(breaker)
        fail(breaker)
    assert state(breaker) is BreakerState.CLOSED


def test_failures_older_than_the_window_do_not_count_toward_the_rate(clock: FakeClock) -> None:
    breaker = make(clock, failure_threshold=100, min_calls=10, failure_rate=0.5, window=10.0)
    fail(breaker, 1)
    succeed(breaker, 1)
    fail(breaker, 1)
    succeed(breaker, 1)
    clock.advance(11.0)
    for _ in range(3):
        succeed(breaker)
        fail(breaker)
    succeed(breaker, 4)  # 10 calls in window, 3 failed: 30 %
    assert state(breaker) is BreakerState.CLOSED


def test_open_breaker_refuses_calls_until_cooldown_then_admits_one_probe(clock: FakeClock) -> None:
    breaker = make(clock, cooldown=5.0)
    fail(breaker, 3)
    clock.advance(4.9)
    assert breaker.acquire() is None
    assert breaker.cooldown_remaining() == pytest.approx(0.1)
    clock.advance(0.1)
    assert state(breaker) is BreakerState.HALF_OPEN
    probe = breaker.acquire()
    assert probe is not None
    assert probe.probe
    assert breaker.acquire() is None, "only one probe at a time"


def test_successful_probe_closes_the_breaker(clock: FakeClock) -> None:
    breaker = make(clock)
    fail(breaker, 3)
    clock.advance(5.0)
    breaker.record_success(admitted(breaker))
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.acquire() is not None


def test_failed_probe_reopens_for_a_doubled_cooldown(clock: FakeClock) -> None:
    breaker = make(clock)
    fail(breaker, 3)
    clock.advance(5.0)
    breaker.record_failure(admitted(breaker))
    assert state(breaker) is BreakerState.OPEN
    assert breaker.cooldown_remaining() == pytest.approx(10.0)
    clock.advance(9.9)
    assert breaker.acquire() is None
    clock.advance(0.1)
    assert state(breaker) is BreakerState.HALF_OPEN


def test_cooldown_grows_with_failed_probes_but_never_past_its_cap(clock: FakeClock) -> None:
    breaker = make(clock, cooldown=0.5, max_cooldown=2.0)
    fail(breaker, 3)
    waits = []
    for _ in range(5):
        waits.append(breaker.cooldown_remaining())
        clock.advance(breaker.cooldown_remaining())
        breaker.record_failure(admitted(breaker))
    assert waits == pytest.approx([0.5, 1.0, 2.0, 2.0, 2.0])


def test_an_upstream_back_after_a_long_outage_is_probed_within_the_cap(clock: FakeClock) -> None:
    breaker = make(clock, cooldown=0.5, max_cooldown=2.0)
    fail(breaker, 3)
    for _ in range(60):  # a minute frozen: a failed probe at least every 2 s
        clock.advance(breaker.cooldown_remaining())
        breaker.record_failure(admitted(breaker))
    back_at = clock.now  # the upstream answers again from here
    clock.advance(breaker.cooldown_remaining())
    probe = admitted(breaker)
    assert probe.probe
    assert clock.now - back_at <= 2.0
    breaker.record_success(probe)
    assert state(breaker) is BreakerState.CLOSED


def test_closing_resets_the_cooldown_for_the_next_outage(clock: FakeClock) -> None:
    breaker = make(clock, cooldown=0.5, max_cooldown=2.0)
    fail(breaker, 3)
    for _ in range(3):
        clock.advance(breaker.cooldown_remaining())
        breaker.record_failure(admitted(breaker))
    clock.advance(breaker.cooldown_remaining())
    succeed(breaker)  # the probe closes it
    fail(breaker, 3)
    assert breaker.cooldown_remaining() == pytest.approx(0.5)


def test_max_cooldown_defaults_to_four_cooldowns_and_probes_to_no_timeout_of_their_own() -> None:
    breaker = CircuitBreaker(cooldown=0.5)
    assert breaker.max_cooldown == pytest.approx(2.0)
    assert breaker.probe_timeout is None


def test_released_probe_lets_another_probe_through(clock: FakeClock) -> None:
    breaker = make(clock)
    fail(breaker, 3)
    clock.advance(5.0)
    breaker.release(admitted(breaker))  # e.g. the probing call was cancelled
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.acquire() is not None


def test_late_results_of_calls_admitted_before_opening_are_ignored(clock: FakeClock) -> None:
    breaker = make(clock)
    slow = admitted(breaker)
    fail(breaker, 3)
    breaker.record_success(slow)
    assert state(breaker) is BreakerState.OPEN
    clock.advance(5.0)
    probe = admitted(breaker)
    breaker.record_success(slow)
    assert state(breaker) is BreakerState.HALF_OPEN, "only the probe decides"
    breaker.record_success(probe)
    assert state(breaker) is BreakerState.CLOSED


def test_listeners_hear_every_transition(clock: FakeClock) -> None:
    breaker = make(clock)
    seen: list[tuple[BreakerState, BreakerState]] = []
    breaker.add_listener(lambda old, new: seen.append((old, new)))
    fail(breaker, 3)
    clock.advance(5.0)
    succeed(breaker)
    assert seen == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"min_calls": 0},
        {"failure_rate": 0.0},
        {"failure_rate": 1.5},
        {"cooldown": 2.0, "max_cooldown": 1.0},
        {"probe_timeout": 0.0},
    ],
)
def test_breaker_rejects_nonsense_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        CircuitBreaker(**kwargs)
