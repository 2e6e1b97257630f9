"""What a load run measured: every request's route, latency and outcome, kept
per second so a chaos run can ask "which routes failed while this fault lasted"."""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Recorder", "percentile"]


def percentile(samples: Sequence[float], q: float) -> float:
    """The sample at rank ``q``% (nearest rank over the sorted samples); NaN when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class _Route:
    latencies: list[float] = field(default_factory=list)  # seconds, every answer
    errors: Counter[str] = field(default_factory=Counter)  # cause -> count
    # second since the start -> [requests, errors]
    seconds: dict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))


class Recorder:
    """Collects samples from one run; :meth:`summary` is the JSON results document.

    A sample is an error when the request failed to complete or answered 4xx/5xx
    (the caller decides, and names the cause: ``503``, ``ServerDisconnectedError``).
    Latency counts for every sample, errors included, from when the request was
    *meant* to be sent (the open loop passes its intended time).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.started_wall = time.time()
        self.routes: dict[str, _Route] = defaultdict(_Route)
        # second -> latencies of everything answered in it (for the chart)
        self.timeline: dict[int, list[float]] = defaultdict(list)
        self.timeline_errors: Counter[int] = Counter()

    def restart(self) -> None:
        """Count time from now (after untimed preparation); earlier samples fall in second 0."""
        self.started = self.clock()
        self.started_wall = time.time()

    def record(self, route: str, latency: float, cause: str | None = None) -> None:
        """One request on ``route`` took ``latency`` seconds; ``cause`` names a failure."""
        second = max(0, int(self.clock() - self.started))
        entry = self.routes[route]
        entry.latencies.append(latency)
        bucket = entry.seconds[second]
        bucket[0] += 1
        self.timeline[second].append(latency)
        if cause is not None:
            entry.errors[cause] += 1
            bucket[1] += 1
            self.timeline_errors[second] += 1

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    @property
    def requests(self) -> int:
        return sum(len(r.latencies) for r in self.routes.values())

    @property
    def errors(self) -> int:
        return sum(r.errors.total() for r in self.routes.values())

    def recent(self, seconds: int = 5) -> tuple[float, float, float]:
        """(requests/s, p99 ms, errors/s) over the last whole ``seconds``."""
        now = int(self.elapsed)
        window = range(max(0, now - seconds), now)
        latencies = [x for s in window for x in self.timeline.get(s, [])]
        span = max(1, len(window))
        errors = sum(self.timeline_errors.get(s, 0) for s in window)
        return len(latencies) / span, percentile(latencies, 99) * 1000, errors / span

    def summary(self, duration: float | None = None, **meta: Any) -> dict[str, Any]:
        elapsed = duration if duration is not None else self.elapsed
        routes = {
            name: _route_summary(entry, elapsed) for name, entry in sorted(self.routes.items())
        }
        everything = [x for entry in self.routes.values() for x in entry.latencies]
        total = _route_summary(_Route(latencies=everything), elapsed)
        total["errors"] = self.errors
        seconds = range(0, max([*self.timeline, -1]) + 1)
        return {
            **meta,
            "started_at": self.started_wall,
            "duration_s": round(elapsed, 3),
            "total": total,
            "routes": routes,
            "timeline": [
                {
                    "second": s,
                    "requests": len(self.timeline.get(s, [])),
                    "errors": self.timeline_errors.get(s, 0),
                    "p50_ms": _ms(percentile(self.timeline.get(s, []), 50)),
                    "p99_ms": _ms(percentile(self.timeline.get(s, []), 99)),
                }
                for s in seconds
            ],
            "route_seconds": {
                name: {str(s): counts for s, counts in sorted(entry.seconds.items())}
                for name, entry in sorted(self.routes.items())
            },
        }


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 2)


def _route_summary(entry: _Route, elapsed: float) -> dict[str, Any]:
    samples = entry.latencies
    return {
        "requests": len(samples),
        "rps": round(len(samples) / elapsed, 2) if elapsed > 0 else 0.0,
        "p50_ms": _ms(percentile(samples, 50)),
        "p90_ms": _ms(percentile(samples, 90)),
        "p99_ms": _ms(percentile(samples, 99)),
        "max_ms": _ms(max(samples)) if samples else None,
        "errors": entry.errors.total(),
        "causes": dict(entry.errors.most_common()),
    }
