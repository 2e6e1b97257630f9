"""Per-account login backoff, kept in identity's store so every replica agrees.

The gateway limits logins per address; this limits them per *account*, and it
holds for callers that reach identity without the gateway. :class:`Lockout`
promises: after ``free_failures`` failed logins for one email within
``window`` (counted alike for emails with and without an account, so the
lock tells nothing about who is registered), that email is refused with 429
and ``Retry-After`` for ``base`` seconds, doubling with every further failure
up to ``cap``. A successful login forgets the failures.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from emporium.chassis import Database, Problem
from emporium.chassis.clock import as_utc
from emporium.services.identity.models import LoginThrottle, utcnow

__all__ = ["Lockout"]

# Rows of emails nobody tried for a window are swept now and then, not on every
# failure: unknown emails must not grow the table without bound.
_SWEEP_CHANCE = 0.01


class Lockout:
    def __init__(
        self,
        database: Database,
        *,
        free_failures: int,
        window_seconds: float,
        base_seconds: float,
        cap_seconds: float,
    ) -> None:
        self.database = database
        self.free_failures = free_failures
        self.window = timedelta(seconds=window_seconds)
        self.base = base_seconds
        self.cap = cap_seconds

    async def check(self, email: str) -> None:
        """Raise a 429 problem while ``email`` is locked."""
        async with self.database.session() as session:
            row = await session.get(LoginThrottle, email)
        if row is None or row.locked_until is None:
            return
        wait = (as_utc(row.locked_until) - utcnow()).total_seconds()
        if wait > 0:
            raise Problem(
                429,
                "Too many failed sign-ins for this account; retry later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    async def failed(self, email: str) -> None:
        now = utcnow()
        for _attempt in range(3):
            async with self.database.unit_of_work() as uow:
                row = await uow.session.get(LoginThrottle, email, with_for_update=True)
                if row is None:
                    uow.session.add(LoginThrottle(email=email, failures=1, last_failure_at=now))
                else:
                    recent = as_utc(row.last_failure_at) + self.window > now
                    row.failures = row.failures + 1 if recent else 1
                    row.last_failure_at = now
                    over = row.failures - self.free_failures
                    if over >= 0:
                        lock = min(self.cap, self.base * 2**over)
                        row.locked_until = now + timedelta(seconds=lock)
                try:
                    await uow.commit()
                except IntegrityError:
                    continue  # another replica recorded this email's first failure
                break
        if random.random() < _SWEEP_CHANCE:
            await self._sweep(now)

    async def succeeded(self, email: str) -> None:
        async with self.database.unit_of_work() as uow:
            await uow.session.execute(delete(LoginThrottle).where(LoginThrottle.email == email))
            await uow.commit()

    async def _sweep(self, now: datetime) -> None:
        stale = now - self.window - timedelta(seconds=self.cap)
        async with self.database.unit_of_work() as uow:
            await uow.session.execute(
                delete(LoginThrottle).where(LoginThrottle.last_failure_at < stale)
            )
            await uow.commit()
