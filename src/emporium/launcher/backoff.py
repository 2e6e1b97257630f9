"""Restart delays for crashed instances: fast first, doubling, capped, forgiving.

A crash right after start-up waits ``initial`` seconds, the next one twice as
long, up to ``cap`` (the chassis :class:`~emporium.chassis.backoff.Backoff`
schedule). An instance that stayed up ``reset_after`` seconds is considered
healthy again: its next crash starts the schedule over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emporium.chassis.backoff import Backoff

__all__ = ["RestartBackoff"]


@dataclass
class RestartBackoff:
    initial: float = 0.2
    factor: float = 2.0
    cap: float = 10.0
    reset_after: float = 30.0
    failures: int = 0
    _schedule: Backoff = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._schedule = Backoff(self.initial, self.cap, self.factor)

    def delay_for(self, failures: int) -> float:
        """The delay before restart number ``failures`` (1-based) in a crash streak."""
        if failures <= 0:
            return 0.0
        return self._schedule.delay(failures)

    def next_delay(self, uptime: float) -> float:
        """Record a crash after ``uptime`` seconds up, and return how long to wait."""
        if uptime >= self.reset_after:
            self.failures = 0
        self.failures += 1
        return self.delay_for(self.failures)
