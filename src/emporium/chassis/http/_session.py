"""The process's shared aiohttp session: one keep-alive connection pool per event loop.

Every :class:`ServiceClient` without its own session borrows this one; the
last client to close closes it, so a service that closes its clients on
shutdown leaves no open sockets behind.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

__all__ = ["POOL_LIMIT", "acquire_session", "release_session"]

POOL_LIMIT = 256  # connections over all upstreams; beyond it, calls wait for a free one
KEEPALIVE_SECONDS = 30.0


@dataclass(slots=True)
class _Borrowed:
    session: aiohttp.ClientSession
    borrowers: int


# Keyed by loop because a ClientSession belongs to the loop that created it
# (one loop per service process; one per test under pytest-asyncio).
_sessions: dict[asyncio.AbstractEventLoop, _Borrowed] = {}


def acquire_session() -> aiohttp.ClientSession:
    """Borrow the running loop's shared session, creating it on first use."""
    loop = asyncio.get_running_loop()
    for stale in [other for other in _sessions if other.is_closed()]:
        del _sessions[stale]  # a test loop closed with a client still open
    borrowed = _sessions.get(loop)
    if borrowed is None or borrowed.session.closed:
        connector = aiohttp.TCPConnector(limit=POOL_LIMIT, keepalive_timeout=KEEPALIVE_SECONDS)
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),  # every request sets its own
            raise_for_status=False,
            trust_env=False,
        )
        borrowed = _sessions[loop] = _Borrowed(session, 0)
    borrowed.borrowers += 1
    return borrowed.session


async def release_session(session: aiohttp.ClientSession) -> None:
    """Give a borrowed session back; the last borrower closes it."""
    for loop, borrowed in list(_sessions.items()):
        if borrowed.session is session:
            borrowed.borrowers -= 1
            if borrowed.borrowers <= 0:
                del _sessions[loop]
                await session.close()
            return
