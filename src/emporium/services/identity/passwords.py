"""Password hashing with argon2id, off the event loop.

:class:`Passwords` promises that checking a password takes about the same time
whether or not the account exists: an unknown email is checked against a dummy
hash made with the same parameters, so timing does not reveal who has an account.

It also bounds the work: at most ``max_concurrent`` hashes run at once (each
holds ``memory_kib``) and at most ``max_waiting`` callers queue for one; any
more get :class:`PasswordsBusy`, a 503 problem with ``Retry-After``, so a burst
of sign-ups or logins cannot exhaust memory or pile up without end.

And it gives that memory back. glibc keeps a freed hash's block (19 MiB by
default) in the heap it came from: a thread's own arena keeps it for good
(the arena is trimmed only past a threshold that grows to twice the largest
block freed), so every thread that ever hashed held 19 MiB more. With
:func:`hash_on_the_main_heap` called at start the threads share the main
heap, and once no hash has run for ``give_back_after`` seconds ``malloc_trim``
returns its free memory to the system. Under load the memory stays for the
next hash; releasing it after every hash instead made each hash 40 % slower
(the next one faults 19 MiB in again); decision 0007's addendum.
"""

from __future__ import annotations

import asyncio
import ctypes
import secrets
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from emporium.chassis import Problem

__all__ = ["Passwords", "PasswordsBusy", "hash_on_the_main_heap", "malloc_trim"]

T = TypeVar("T")

_M_ARENA_MAX = -8  # glibc's mallopt parameter number


@cache
def _glibc() -> Any:
    """The C library, if it is glibc (``mallopt`` and ``malloc_trim``); else None.

    Looked up once: the give-back calls it after every idle spell."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt  # noqa: B018 (absent outside glibc)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def hash_on_the_main_heap() -> bool:
    """Make threads allocate from the main heap (glibc's one arena); True if it could.

    Call it before the process starts a thread: it limits arenas yet to be made.
    """
    libc = _glibc()
    return libc is not None and libc.mallopt(_M_ARENA_MAX, 1) == 1


def malloc_trim() -> None:
    """Return the heap's free memory to the system (nothing outside glibc)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


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
        give_back_after: float = 1.0,
        give_back: Callable[[], None] = malloc_trim,
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
        self._hashing = 0
        self._give_back_after = give_back_after
        self._give_back = give_back
        self._idle: asyncio.TimerHandle | None = None

    async def _bounded(self, work: Callable[..., T], *args: object) -> T:
        if self._slots.locked() and self._waiting >= self._max_waiting:
            raise PasswordsBusy()
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        self._hashing += 1
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        try:
            # argon2-cffi releases the GIL, so a thread keeps the loop serving.
            return await asyncio.to_thread(work, *args)
        finally:
            self._hashing -= 1
            self._slots.release()
            if self._hashing == 0:
                loop = asyncio.get_running_loop()
                self._idle = loop.call_later(self._give_back_after, self._give_back)

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
