"""Password hashing with argon2id, off the event loop.

:class:`Passwords` promises that checking a password takes about the same time
whether or not the account exists: an unknown email is checked against a dummy
hash made with the same parameters, so timing does not reveal who has an account.

It also bounds the work: at most ``max_concurrent`` hashes run at once (each
holds ``memory_kib``) and at most ``max_waiting`` callers queue for one; any
more get :class:`PasswordsBusy`, a 503 problem with ``Retry-After``, so a burst
of sign-ups or logins cannot exhaust memory or pile up without end.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from emporium.chassis import Problem

__all__ = ["Passwords", "PasswordsBusy"]

T = TypeVar("T")


class PasswordsBusy(Problem):
    """Every hashing slot is taken and the queue is full: try again shortly."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "Too many sign-ins and sign-ups at once; retry shortly",
            headers={"Retry-After": "1"},
        )


class Passwords:
    def __init__(
        self,
        *,
        time_cost: int,
        memory_kib: int,
        parallelism: int,
        max_concurrent: int = 4,
        max_waiting: int = 32,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_waiting = max_waiting
        self._waiting = 0

    async def _bounded(self, work: Callable[..., T], *args: object) -> T:
        if self._slots.locked() and self._waiting >= self._max_waiting:
            raise PasswordsBusy()
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            # argon2-cffi releases the GIL, so a thread keeps the loop serving.
            return await asyncio.to_thread(work, *args)
        finally:
            self._slots.release()

    async def hash(self, password: str) -> str:
        return await self._bounded(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True if ``password`` matches ``stored``; ``None`` (no such user) is always False."""
        return await self._bounded(self._verify, stored, password)

    def _verify(self, stored: str | None, password: str) -> bool:
        try:
            self._hasher.verify(stored or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return stored is not None

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
