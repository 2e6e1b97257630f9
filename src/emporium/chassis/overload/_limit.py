"""An adaptive concurrency limit: how many requests may be in progress at once.

The limit follows latency, in the manner of Envoy's adaptive concurrency filter
and Netflix's gradient limits. Latency samples are gathered in windows; at the
end of each window the limit moves by the *gradient* between the baseline
(the lowest latency seen lately, what a request costs with no queue) and the
window's latency::

    gradient  = clamp((tolerance * baseline + slack) / sample, 0.5, 1.0)
    new_limit = limit * gradient + headroom          # headroom = sqrt(limit)
    limit     = limit * (1 - smoothing) + new_limit * smoothing

While latency stays within ``tolerance`` times the baseline the limit grows by
its headroom (slowly: a square root), but only if the window actually used at
least half of it, so an idle service does not talk itself into a huge limit.
When latency grows past that, queues are forming somewhere behind us, and the
limit shrinks towards what is being served in time; it settles where the
gradient just offsets the headroom (latency a little over ``tolerance`` times
the baseline).
A window with a request that was dropped (timed out, or shed further in)
multiplies the limit by ``backoff`` at once, unsmoothed: from 64 to 4 in about
three seconds of sustained refusals.

``slack`` is queueing accepted in absolute terms: a closed loop of a few dozen
clients on a 3 ms route runs at 30 ms, ten times its baseline, and nobody is
helped by shedding that; a checkout at 1.3 s is another matter.

The baseline is the minimum over the current and the previous
``baseline_window``; it is forgotten after that, so a service that became
slower for good (more data, a smaller machine) gets a new baseline instead of
being throttled forever.

Pure and synchronous: time comes from an injected clock, so tests drive it
without sleeping.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["GradientLimit", "LimitSettings"]


@dataclass(frozen=True, slots=True)
class LimitSettings:
    initial: int = 64
    min_limit: int = 4
    max_limit: int = 1024
    tolerance: float = 2.0
    slack: float = 0.05
    smoothing: float = 0.3
    backoff: float = 0.8
    window: float = 0.25  # seconds per sample window ...
    min_samples: int = 5  # ... closed only once it holds this many samples
    baseline_window: float = 30.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_limit <= self.initial <= self.max_limit:
            raise ValueError("need 1 <= min_limit <= initial <= max_limit")
        if self.tolerance < 1 or not 0 < self.smoothing <= 1 or not 0 < self.backoff < 1:
            raise ValueError("need tolerance >= 1, 0 < smoothing <= 1, 0 < backoff < 1")


class GradientLimit:
    """The limit's state machine; :meth:`sample` feeds it one finished request."""

    def __init__(
        self, settings: LimitSettings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings or LimitSettings()
        self.clock = clock
        self._limit = float(self.settings.initial)
        self._window_start = clock()
        self._samples: list[float] = []
        self._dropped = False
        self._peak_in_flight = 0
        # Minimum latency of the current and previous baseline windows.
        self._baseline_start = self._window_start
        self._baseline_now = math.inf
        self._baseline_before = math.inf

    @property
    def limit(self) -> int:
        return int(self._limit)

    @property
    def baseline(self) -> float:
        return min(self._baseline_now, self._baseline_before)

    def sample(self, latency: float, in_flight: int, *, dropped: bool = False) -> None:
        """One request finished after ``latency`` s with ``in_flight`` in progress (itself
        included). ``dropped``: it timed out, a sign of overload whatever its latency."""
        now = self.clock()
        if dropped:
            self._dropped = True
        else:
            self._samples.append(latency)
            self._remember_baseline(latency, now)
        self._peak_in_flight = max(self._peak_in_flight, in_flight)
        if now - self._window_start >= self.settings.window and (
            self._dropped or len(self._samples) >= self.settings.min_samples
        ):
            self._update()
            self._window_start = now
            self._samples.clear()
            self._dropped = False
            self._peak_in_flight = 0

    def _remember_baseline(self, latency: float, now: float) -> None:
        if now - self._baseline_start >= self.settings.baseline_window:
            self._baseline_before, self._baseline_now = self._baseline_now, math.inf
            self._baseline_start = now
        self._baseline_now = min(self._baseline_now, latency)

    def _update(self) -> None:
        s = self.settings
        limit = self._limit
        if self._dropped:
            # Overload is certain: no smoothing, or the limit would take tens of
            # seconds to come down from its start.
            self._limit = max(float(s.min_limit), limit * s.backoff)
            return
        window = statistics.median(self._samples)
        target = s.tolerance * self.baseline + s.slack
        gradient = max(0.5, min(1.0, target / window)) if window else 1.0
        # Grow only when the window used the limit (half of it, at least):
        # an idle service has learnt nothing about how much it can take.
        used = self._peak_in_flight * 2 >= limit
        headroom = math.sqrt(limit) if used else 0.0
        proposed = limit * gradient + headroom
        limit = limit * (1 - s.smoothing) + proposed * s.smoothing
        self._limit = max(float(s.min_limit), min(float(s.max_limit), limit))
