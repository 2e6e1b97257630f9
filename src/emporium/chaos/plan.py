"""What a chaos run does and when, and what the load saw meanwhile (pure: no I/O).

A run spreads its faults evenly over the load: with ``k`` faults in ``D``
seconds, fault ``i`` starts at ``D * (i + 1) / (k + 1)``, so the load runs
clean before the first and after the last, and a fault's errors are told
apart from the next one's. Each fault's *window* runs from its start to the
next fault's start (or the end of the load); the errors the load recorded in
that window are the fault's, and the last second with an error in it, past
the fault's end, is when the system had recovered as a client sees it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Fault",
    "FaultKind",
    "PlanError",
    "errors_in_window",
    "plan_faults",
    "traffic_elsewhere",
]


class PlanError(ValueError):
    """The faults asked for do not fit in the run."""


class FaultKind(StrEnum):
    KILL = "kill"  # SIGKILL one instance; the launcher restarts it
    FREEZE = "freeze"  # SIGSTOP one instance, SIGCONT after its seconds
    BROKER = "broker"  # stop the embedded broker, start it after its seconds


@dataclass
class Fault:
    kind: FaultKind
    at: float  # seconds since the load started
    seconds: float = 0.0  # how long it lasts (0: instantaneous, a kill)
    target: str = ""  # the instance (kill, freeze); "broker" for the broker
    # Filled in as the run goes:
    started: float | None = None  # seconds since the load started, when it was done
    ended: float | None = None
    ready_again: float | None = None  # every instance ready again (launcher's view)
    errors: dict[str, int] = field(default_factory=dict)  # route -> errors in its window
    requests: int = 0
    last_error: float | None = None
    # On the routes that do not touch the target (all of them for the broker,
    # which no request waits on): [requests, errors] in the window.
    elsewhere: tuple[int, int] = (0, 0)

    @property
    def service(self) -> str:
        """The faulted service: ``catalog`` for ``catalog-2``, ``broker`` for the broker."""
        return self.target if self.kind is FaultKind.BROKER else self.target.rpartition("-")[0]

    @property
    def success_elsewhere(self) -> float | None:
        requests, failed = self.elsewhere
        return None if requests == 0 else round(1 - failed / requests, 4)

    @property
    def end(self) -> float:
        return self.at + self.seconds

    def describe(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind), "target": self.target, "planned_at": self.at,
            "seconds": self.seconds, "started": self.started, "ended": self.ended,
            "ready_again": self.ready_again, "requests": self.requests,
            "errors": self.errors, "last_error": self.last_error,
            "elsewhere": list(self.elsewhere), "success_elsewhere": self.success_elsewhere,
            "recovered_after": self.recovered_after,
        }  # fmt: skip

    @property
    def recovered_after(self) -> float | None:
        """Seconds from the fault's end until clients saw no more errors and every
        instance was ready again (0: nothing to recover from)."""
        if self.ended is None:
            return None
        marks = [m for m in (self.last_error, self.ready_again) if m is not None]
        return round(max([self.ended, *marks]) - self.ended, 1)


def plan_faults(
    duration: float,
    *,
    kills: int,
    freeze: float,
    broker: float,
    instances: Sequence[str],
    rng: random.Random,
) -> list[Fault]:
    """Kills first, then the freeze, then the broker stop, evenly spaced; targets
    drawn from ``instances`` (no gateway: it alone would fail every request)."""
    wanted: list[tuple[FaultKind, float]] = [(FaultKind.KILL, 0.0)] * kills
    if freeze > 0:
        wanted.append((FaultKind.FREEZE, freeze))
    if broker > 0:
        wanted.append((FaultKind.BROKER, broker))
    if not wanted:
        raise PlanError("no faults asked for (--kill, --freeze, --broker-stop)")
    if not instances and any(kind is not FaultKind.BROKER for kind, _ in wanted):
        raise PlanError("no instance to kill or freeze")
    # Different instances while there are enough: a second kill of one still in
    # its restart backoff would find no process to signal.
    needed = sum(kind is not FaultKind.BROKER for kind, _ in wanted)
    targets = rng.sample(list(instances), min(needed, len(instances))) if needed else []
    faults: list[Fault] = []
    for index, (kind, seconds) in enumerate(wanted):
        at = round(duration * (index + 1) / (len(wanted) + 1), 1)
        target = "broker" if kind is FaultKind.BROKER else targets[index % len(targets)]
        faults.append(Fault(kind, at, seconds, target))
    for fault, following in zip(faults, [*faults[1:], None], strict=True):
        limit = following.at if following is not None else duration
        if fault.end >= limit:
            raise PlanError(
                f"{fault.kind} for {fault.seconds:g} s at {fault.at:g} s does not end before "
                f"{'the next fault' if following else 'the load'} ({limit:g} s); "
                "use a longer --duration or shorter faults"
            )
    return faults


def errors_in_window(
    route_seconds: Mapping[str, Mapping[str, Sequence[int]]], start: float, end: float
) -> tuple[dict[str, int], int, float | None]:
    """(errors per route, requests, last second with an error) over [start, end)
    from the load's per-route, per-second ``[requests, errors]`` counts."""
    errors: dict[str, int] = {}
    requests = 0
    last: float | None = None
    for route, seconds in route_seconds.items():
        for second_text, (count, failed) in seconds.items():
            second = int(second_text)
            if not start <= second + 0.5 < end:
                continue
            requests += count
            if failed:
                errors[route] = errors.get(route, 0) + failed
                last = max(last or 0.0, second + 1.0)
    return dict(sorted(errors.items())), requests, last


def traffic_elsewhere(
    route_seconds: Mapping[str, Mapping[str, Sequence[int]]],
    start: float,
    end: float,
    service: str,
    route_services: Mapping[str, frozenset[str]],
) -> tuple[int, int]:
    """(requests, errors) over [start, end) on the routes that do not touch
    ``service``; a route missing from ``route_services`` is counted as touching it."""
    requests = failed = 0
    for route, seconds in route_seconds.items():
        if service in route_services.get(route, frozenset({service})):
            continue
        for second_text, (count, errors) in seconds.items():
            if start <= int(second_text) + 0.5 < end:
                requests += count
                failed += errors
    return requests, failed
