"""Background work on a timer, as a chassis component.

Sweepers and dispatchers (expire reservations, time out sagas, ship what is
due) all share one loop: run a pass every ``interval`` seconds from start-up
until stop; a failing pass is logged and retried on the next tick and never
stops the loop. Subclasses implement :meth:`Periodic.run_once`, which must be
safe with several replicas running it at once (claim work in the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

__all__ = ["Periodic"]

logger = logging.getLogger(__name__)


class Periodic(ABC):
    """A component (start/stop/ready) that calls :meth:`run_once` every ``interval`` s."""

    #: what one unit of work is called in the log ("expired 3 reservations")
    done: str = "handled %d item(s)"

    def __init__(self, *, name: str, interval: float) -> None:
        self.name = name
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def run_once(self) -> int:
        """One pass over what is due now; the number of items it handled."""

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def ready(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while True:
            try:
                if count := await self.run_once():
                    logger.info(self.done, count, extra={"worker": self.name})
            except Exception:
                logger.exception("%s: pass failed; retrying next tick", self.name)
            await asyncio.sleep(self.interval)
