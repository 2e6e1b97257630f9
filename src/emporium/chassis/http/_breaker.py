"""A circuit breaker: stop calling an upstream that keeps failing, then probe it.

The state machine is pure (no I/O, no asyncio) and reads time from an injected
clock, so it is tested without sleeping.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BreakerState", "CircuitBreaker", "Permit"]


class BreakerState(enum.IntEnum):
    """Values are what the ``breaker_state`` gauge exports."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to make one call. Results are matched to the state that admitted the call."""

    generation: int
    probe: bool


StateListener = Callable[[BreakerState, BreakerState], None]


class CircuitBreaker:
    """One upstream's breaker, shared by every call to it in this process.

    - CLOSED: calls pass. It opens after ``failure_threshold`` consecutive
      failures, or when at least ``min_calls`` calls finished in the last
      ``window`` seconds and ``failure_rate`` of them or more failed.
    - OPEN: :meth:`acquire` refuses every call for a cool-down: ``cooldown``
      seconds the first time, doubled by every failed probe up to
      ``max_cooldown`` (four times ``cooldown`` unless given), back to
      ``cooldown`` once the breaker closes. The cap is what bounds recovery:
      an upstream that comes back is probed within ``max_cooldown`` seconds.
    - HALF_OPEN: after the cool-down exactly one probe is admitted while every
      other call is still refused; its success closes the breaker, its failure
      opens it again for the next cool-down. A probe is an ordinary call; with
      ``probe_timeout`` set it waits at most that long (the client cuts its
      timeout to it), so the one caller that carries it is not held for a
      full timeout by an upstream that is still frozen. Set it only well above
      the upstream's usual latency, or a slow but working upstream is never
      let back in; unset, a probe has the call's own timeout.

    A caller takes a :class:`Permit` with :meth:`acquire` and hands it back with
    exactly one of :meth:`record_success`, :meth:`record_failure` or
    :meth:`release` (the call ended without a verdict, e.g. it was cancelled).
    Results of calls admitted before the last state change are ignored, so a
    slow call started while closed cannot close a breaker that has since opened.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        failure_rate: float = 0.5,
        window: float = 10.0,
        min_calls: int = 20,
        cooldown: float = 0.5,
        max_cooldown: float | None = None,
        probe_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or min_calls < 1:
            raise ValueError("failure_threshold and min_calls must be at least 1")
        if not 0.0 < failure_rate <= 1.0:
            raise ValueError("failure_rate must be in (0, 1]")
        if window <= 0 or cooldown < 0:
            raise ValueError("window must be positive and cooldown not negative")
        if max_cooldown is None:
            max_cooldown = 4 * cooldown
        if max_cooldown < cooldown:
            raise ValueError("max_cooldown must be at least cooldown")
        if probe_timeout is not None and probe_timeout <= 0:
            raise ValueError("probe_timeout must be positive")
        self.failure_threshold = failure_threshold
        self.failure_rate = failure_rate
        self.window = window
        self.min_calls = min_calls
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._consecutive_failures = 0
        self._outcomes: deque[tuple[float, bool]] = deque()  # (finished at, failed)
        self._failures_in_window = 0
        self._opened_at = 0.0
        self._current_cooldown = cooldown  # this opening's; grows with failed probes
        self._probe_in_flight = False
        self._listeners: list[StateListener] = []

    @property
    def state(self) -> BreakerState:
        self._refresh()
        return self._state

    def cooldown_remaining(self) -> float:
        """Seconds until an open breaker admits a probe (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._current_cooldown - self._clock())

    def add_listener(self, listener: StateListener) -> None:
        """Call ``listener(old, new)`` on every state change."""
        self._listeners.append(listener)

    def acquire(self) -> Permit | None:
        """A permit to call the upstream now, or ``None``: fail fast without calling."""
        self._refresh()
        if self._state is BreakerState.CLOSED:
            return Permit(self._generation, probe=False)
        if self._state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return Permit(self._generation, probe=True)
        return None

    def record_success(self, permit: Permit) -> None:
        if permit.generation != self._generation:
            return
        if permit.probe:
            self._transition(BreakerState.CLOSED)
            return
        self._consecutive_failures = 0
        self._remember(failed=False)

    def record_failure(self, permit: Permit) -> None:
        if permit.generation != self._generation:
            return
        if permit.probe:
            # Still failing: wait longer before the next probe, but never past the cap.
            self._current_cooldown = min(self.max_cooldown, 2 * self._current_cooldown)
            self._transition(BreakerState.OPEN)
            return
        self._consecutive_failures += 1
        self._remember(failed=True)
        if self._consecutive_failures >= self.failure_threshold or self._rate_exceeded():
            self._transition(BreakerState.OPEN)

    def release(self, permit: Permit) -> None:
        if permit.probe and permit.generation == self._generation:
            self._probe_in_flight = False

    def _refresh(self) -> None:
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self._current_cooldown
        ):
            self._transition(BreakerState.HALF_OPEN)

    def _remember(self, *, failed: bool) -> None:
        now = self._clock()
        self._outcomes.append((now, failed))
        self._failures_in_window += failed
        horizon = now - self.window
        while self._outcomes and self._outcomes[0][0] < horizon:
            _, old_failed = self._outcomes.popleft()
            self._failures_in_window -= old_failed

    def _rate_exceeded(self) -> bool:
        calls = len(self._outcomes)
        return calls >= self.min_calls and self._failures_in_window >= self.failure_rate * calls

    def _transition(self, new: BreakerState) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._probe_in_flight = False
        self._consecutive_failures = 0
        self._outcomes.clear()
        self._failures_in_window = 0
        if new is BreakerState.OPEN:
            self._opened_at = self._clock()
        elif new is BreakerState.CLOSED:
            self._current_cooldown = self.cooldown
        for listener in self._listeners:
            listener(old, new)
