"""What every service's domain shares: an aggregate that records its own events.

Why a package of its own, and not ``emporium.chassis``: domain packages import
no framework (an import-linter contract holds them to it), and importing
anything from the chassis runs its ``__init__``, which imports FastAPI and
SQLAlchemy. This package imports the standard library only, so a domain may
depend on it and stay plain Python.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Aggregate"]

Event = TypeVar("Event")


class Aggregate(Generic[Event]):
    """A consistency boundary that records what happened to it, in order.

    Transitions append to :attr:`events`; the service layer takes them with
    :meth:`collect_events` and turns each into an integration message in the
    same transaction as the change. Collected events are gone from the
    aggregate, so a second collect gives only what happened since.
    Objects loaded by the ORM never run ``__init__``; the list is made on first use.
    """

    _events: list[Event]

    @property
    def events(self) -> list[Event]:
        """Recorded and not yet collected (a loaded aggregate starts with none)."""
        try:
            return self._events
        except AttributeError:
            self._events = []
            return self._events

    def collect_events(self) -> list[Event]:
        events, self._events = list(self.events), []
        return events
