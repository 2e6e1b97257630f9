"""The one clock every service reads: naive UTC.

Naive UTC is the one form that SQLite, PostgreSQL and MariaDB all store and
compare alike, so every timestamp a service writes comes from :func:`utcnow`;
a store with zone-aware columns (identity) wraps it in :func:`as_utc`.
Use cases take a ``clock`` argument defaulting to it, so tests can move time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "as_utc", "utcnow"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, in UTC, without a tzinfo."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc(moment: datetime) -> datetime:
    """``moment`` with its UTC zone: a naive value (SQLite gives those back) is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
