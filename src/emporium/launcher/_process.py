"""Spawning a child so it dies with the launcher and ignores the terminal's Ctrl-C.

Children get their own session, so Ctrl-C reaches only the launcher, which then
drains them in order. On Linux they also get SIGTERM if the launcher itself dies
(``kill -9``), so no orphans are left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["spawn", "terminate"]

_PR_SET_PDEATHSIG = 1


def _death_signal_setter() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal() -> None:
        # Runs in the child between fork and exec: only an async-signal-safe call.
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_death_signal


_SET_DEATH_SIGNAL = _death_signal_setter()


async def spawn(
    command: Sequence[str], env: Mapping[str, str], *, capture: bool = True
) -> asyncio.subprocess.Process:
    out = asyncio.subprocess.PIPE if capture else asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        *command,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=out,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_SET_DEATH_SIGNAL,
        limit=1 << 20,
    )


async def terminate(process: asyncio.subprocess.Process, grace: float) -> int:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; return the exit code."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            return await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    return await process.wait()
