"""When to retry a request and how long to wait first.

Pure functions of their inputs (the random source is injected), so the
schedule is tested without a network or a clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from emporium.chassis.backoff import Backoff

__all__ = ["IDEMPOTENT_METHODS", "NO_RETRIES", "RetryPolicy", "parse_retry_after"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# 500 is not here: it usually means a bug, and asking again gets the same answer.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How one upstream's calls are retried.

    Only idempotent requests are retried: the methods in ``idempotent_methods``,
    or any request whose caller says ``idempotent=True`` (a POST carrying an
    ``Idempotency-Key``). ``max_attempts`` counts the first attempt. Waits use
    exponential backoff with full jitter: retry ``n`` waits a uniform random
    time in ``[0, min(max_delay, base_delay * 2 ** (n - 1)))``. A ``Retry-After``
    answer is honoured when it is at most ``max_retry_after`` seconds; a longer
    one ends the retries. No attempt starts after ``deadline`` seconds from the
    start of the call.
    """

    max_attempts: int = 3
    base_delay: float = 0.05
    max_delay: float = 1.0
    deadline: float = 5.0
    max_retry_after: float = 1.0
    idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS
    retry_statuses: frozenset[int] = RETRY_STATUSES
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts counts the first attempt: it must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")
        if self.deadline <= 0:
            raise ValueError("deadline must be positive")

    def may_retry(self, method: str, idempotent: bool | None = None) -> bool:
        """Whether a request may be sent more than once at all."""
        if self.max_attempts == 1:
            return False
        if idempotent is not None:
            return idempotent
        return method.upper() in self.idempotent_methods

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if retry < 1:
            raise ValueError("retries are numbered from 1")
        # Full jitter: the chassis Backoff takes up to all of the ceiling off,
        # so a draw of r leaves r * ceiling.
        base = min(self.base_delay, self.max_delay)
        if base == 0:
            return 0.0  # a policy that retries at once
        full_jitter = Backoff(base, self.max_delay, jitter=1.0)
        return full_jitter.delay(retry, lambda: 1.0 - self.random())

    def delay_before(self, retry: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry ``retry``, or ``None`` when it must not happen."""
        if retry >= self.max_attempts:
            return None
        delay = self.backoff(retry)
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            delay = max(delay, retry_after)
        return delay


NO_RETRIES = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or HTTP-date), or ``None``."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
