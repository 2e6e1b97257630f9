"""The one clock every service reads: naive UTC.

Naive UTC is the one form that SQLite, PostgreSQL and MariaDB all store and
compare alike, so every timestamp a service writes comes from :func:`utcnow`.
Use cases take a ``clock`` argument defaulting to it, so tests can move time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "utcnow"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, in UTC, without a tzinfo."""
    return datetime.now(UTC).replace(tzinfo=None)
