"""What a chaos run does and when (pure: no I/O; what the load saw meanwhile is
:mod:`emporium.chaos.windows`).

A run spreads its faults evenly over the load: with ``k`` faults in ``D``
seconds, fault ``i`` starts at ``D * (i + 1) / (k + 1)``, so the load runs
clean before the first and after the last, and a fault's errors are told
apart from the next one's. Each fault's *window* runs from its start to the
next fault's start (or the end of the load); the errors the load recorded in
that window are the fault's, and the last second with an error in it, past
the fault's end, is when the system had recovered as a client sees it.

Kills on a timer (``kill_every``) run beside those faults rather than between
them: one every so many seconds, each window lasting until the next kill. While
windows overlap, a route is "elsewhere" only if it touches none of the services
whose windows cover that second, so one fault's victims never count against
another's isolation.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Fault",
    "FaultKind",
    "Injection",
    "PlanError",
    "parse_errors",
    "parse_latency",
    "plan_faults",
]


class PlanError(ValueError):
    """The faults asked for do not fit in the run."""


class FaultKind(StrEnum):
    KILL = "kill"  # SIGKILL one instance; the launcher restarts it
    FREEZE = "freeze"  # SIGSTOP one instance, SIGCONT after its seconds
    BROKER = "broker"  # stop the embedded broker, start it after its seconds
    LATENCY = "latency"  # every instance of one service answers late for its seconds
    ERRORS = "errors"  # every instance of one service fails a share of requests


# Faults the service's own instances apply to their responses (emporium.chassis.faults).
INJECTED = frozenset({FaultKind.LATENCY, FaultKind.ERRORS})


@dataclass(frozen=True)
class Injection:
    """A latency or errors fault asked for on the command line."""

    kind: FaultKind
    service: str
    seconds: float
    delay_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503

    def body(self, seconds: float) -> dict[str, Any]:
        """What the instances are told (see ``PUT /internal/fault``)."""
        if self.kind is FaultKind.LATENCY:
            return {"delay_ms": self.delay_ms, "seconds": seconds}
        return {"error_rate": self.error_rate, "error_status": self.error_status,
                "seconds": seconds}  # fmt: skip


def _seconds(text: str, what: str) -> float:
    """``300ms``, ``0.3s`` or ``0.3`` (seconds)."""
    value = text.strip().lower()
    scale = 1.0
    if value.endswith("ms"):
        value, scale = value[:-2], 0.001
    elif value.endswith("s"):
        value = value[:-1]
    try:
        seconds = float(value) * scale
    except ValueError:
        raise PlanError(f"{what}: {text!r} is not a time (300ms, 5s)") from None
    if not 0 < seconds < 3600:
        raise PlanError(f"{what}: {text!r} must be above 0 and under an hour")
    return seconds


def _fields(text: str, option: str, shape: str, counts: tuple[int, ...]) -> list[str]:
    parts = text.split(":")
    if len(parts) not in counts or not parts[0]:
        raise PlanError(f"{option} {text!r}: expected {shape}")
    return parts


def parse_latency(text: str) -> Injection:
    """``SERVICE:DELAY:DURATION``, e.g. ``catalog:300ms:5s``."""
    service, delay, duration = _fields(text, "--latency", "SERVICE:DELAY:DURATION", (3,))
    return Injection(
        FaultKind.LATENCY, service, _seconds(duration, "--latency duration"),
        delay_ms=round(_seconds(delay, "--latency delay") * 1000, 3),
    )  # fmt: skip


def parse_errors(text: str) -> Injection:
    """``SERVICE:RATE:DURATION[:STATUS]``, e.g. ``cart:50%:5s`` or ``cart:0.2:4s:500``."""
    parts = _fields(text, "--errors", "SERVICE:RATE:DURATION[:STATUS]", (3, 4))
    rate_text = parts[1].strip()
    try:
        rate = float(rate_text.removesuffix("%")) / (100 if rate_text.endswith("%") else 1)
        status = int(parts[3]) if len(parts) == 4 else 503
    except ValueError:
        raise PlanError(f"--errors {text!r}: expected SERVICE:RATE:DURATION[:STATUS]") from None
    if not 0 < rate <= 1:
        raise PlanError(f"--errors {text!r}: the rate is a share above 0, at most 1 (or 100%)")
    if not 400 <= status <= 599:
        raise PlanError(f"--errors {text!r}: the status is an error, 400 to 599")
    return Injection(
        FaultKind.ERRORS, parts[0], _seconds(parts[2], "--errors duration"),
        error_rate=rate, error_status=status,
    )  # fmt: skip


@dataclass
class Fault:
    kind: FaultKind
    at: float  # seconds since the load started
    seconds: float = 0.0  # how long it lasts (0: instantaneous, a kill)
    target: str = ""  # the instance (kill, freeze); the service (latency, errors); "broker"
    injection: Injection | None = None  # latency and errors: what the instances apply
    periodic: bool = False  # a kill on the --kill-every timer (its target chosen when due)
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
        if self.kind is FaultKind.BROKER or self.kind in INJECTED:
            return self.target
        return self.target.rpartition("-")[0]

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
            "periodic": self.periodic,
            "seconds": self.seconds, "started": self.started, "ended": self.ended,
            "ready_again": self.ready_again, "requests": self.requests,
            "errors": self.errors, "last_error": self.last_error,
            "elsewhere": list(self.elsewhere), "success_elsewhere": self.success_elsewhere,
            "recovered_after": self.recovered_after,
            **({} if self.injection is None else {"injected": self.injection.body(self.seconds)}),
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
    injections: Sequence[Injection] = (),
    services: Collection[str] = (),
    kill_every: float = 0.0,
) -> list[Fault]:
    """Kills first, then the freeze, the broker stop, and the injections in their
    order, evenly spaced; kill and freeze targets drawn from ``instances`` (no
    gateway: it alone would fail every request), injections on one of ``services``.
    With ``kill_every``, also a kill every so many seconds beside them, its target
    left for the run to draw among the instances ready then."""
    periodic = [
        Fault(FaultKind.KILL, round(kill_every * n, 1), periodic=True)
        for n in range(1, int(duration / kill_every) + 1 if kill_every > 0 else 1)
        if kill_every * n < duration
    ]
    if periodic and not instances:
        raise PlanError("no instance to kill")
    wanted: list[tuple[FaultKind, float]] = [(FaultKind.KILL, 0.0)] * kills
    if freeze > 0:
        wanted.append((FaultKind.FREEZE, freeze))
    if broker > 0:
        wanted.append((FaultKind.BROKER, broker))
    for injection in injections:
        if injection.service not in services:
            known = ", ".join(sorted(services)) or "none"
            raise PlanError(
                f"--{injection.kind} {injection.service}: no such service to fault ({known})"
            )
        wanted.append((injection.kind, injection.seconds))
    if not wanted and not periodic:
        raise PlanError(
            "no faults asked for (--kill, --kill-every, --freeze, --broker-stop, --latency, "
            "--errors)"
        )
    signalled = (FaultKind.KILL, FaultKind.FREEZE)
    needed = sum(kind in signalled for kind, _ in wanted)
    if not instances and needed:
        raise PlanError("no instance to kill or freeze")
    # Different instances while there are enough: a second kill of one still in
    # its restart backoff would find no process to signal.
    targets = rng.sample(list(instances), min(needed, len(instances))) if needed else []
    pending = list(injections)
    faults: list[Fault] = []
    for index, (kind, seconds) in enumerate(wanted):
        at = round(duration * (index + 1) / (len(wanted) + 1), 1)
        if kind in INJECTED:
            injection = pending.pop(0)
            faults.append(Fault(kind, at, seconds, injection.service, injection=injection))
            continue
        target = "broker" if kind is FaultKind.BROKER else targets[index % len(targets)]
        faults.append(Fault(kind, at, seconds, target))
    for index, fault in enumerate(faults):
        following = faults[index + 1] if index + 1 < len(faults) else None
        limit = following.at if following is not None else duration
        if fault.end >= limit:
            raise PlanError(
                f"{fault.kind} for {fault.seconds:g} s at {fault.at:g} s does not end before "
                f"{'the next fault' if following else 'the load'} ({limit:g} s); "
                "use a longer --duration or shorter faults"
            )
    return sorted([*faults, *periodic], key=lambda fault: fault.at)
