"""Discovery: keep the routing table equal to the registry, and know who is ready.

:class:`Discovery` is a chassis component. ``start`` loads the instances (the
registry file or the static map), checks every instance's ``/health/ready``
once so traffic can flow from the first request, then runs two loops until
``stop``: a registry watcher (stat every ``registry_poll_interval``; reload on
change, tolerating a missing or half-written file by keeping the last good
table) and active health checks every ``health_interval``. Instances that
appear are checked at once; until their first passing check they get no traffic.

An instance that has appeared but not yet passed a check is *starting*. A
request for a service with no instance ready (proxied, or the gateway's own
fetch of a service's API document or of identity's keys) asks
:meth:`confirm_starting` first: the registry is looked at again (the launcher
lists an instance once it is ready), and the starting instances are checked
right then (one check per instance however many requests wait for it), so an
instance that became ready since the last look and round serves at once.
Without it, the first requests after `emporium up` reported every instance
ready could still meet a 503 for up to a registry poll and a health interval.
An instance that once served and then failed waits for the rounds as before:
asking a dead instance on every request would help nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from emporium.services.gateway.balancer import Balancer
from emporium.services.gateway.metrics import INSTANCE_HEALTHY
from emporium.services.gateway.registry import (
    Instance,
    InstanceSpec,
    RegistryError,
    Upstreams,
    parse_registry,
    parse_static,
)
from emporium.services.gateway.settings import GatewaySettings

__all__ = ["Discovery"]

logger = logging.getLogger(__name__)

_Signature = tuple[int, int, int]


class Discovery:
    """Fills :class:`Upstreams` from discovery and keeps instance health current."""

    def __init__(self, settings: GatewaySettings, upstreams: Upstreams, balancer: Balancer) -> None:
        self.settings = settings
        self.upstreams = upstreams
        self.balancer = balancer
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._checks: set[asyncio.Task[None]] = set()
        self._confirming: dict[Instance, asyncio.Task[None]] = {}
        self._signature: _Signature | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=4),
            timeout=aiohttp.ClientTimeout(
                total=self.settings.health_timeout, sock_connect=self.settings.connect_timeout
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        if self.settings.registry is not None:
            self.reload(self.settings.registry)
            self._tasks.append(asyncio.create_task(self._watch(self.settings.registry)))
        else:
            self.apply(parse_static(self.settings.upstreams))
        await self.check_all()
        self._tasks.append(asyncio.create_task(self._health_loop()))

    async def stop(self) -> None:
        confirming = list(self._confirming.values())
        for task in [*self._tasks, *self._checks, *confirming]:
            task.cancel()
        for task in [*self._tasks, *self._checks, *confirming]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()

    async def ready(self) -> bool:
        # The gateway itself is ready once discovery runs; services that are
        # down are its upstreams' problem, reported per request (503).
        return self._session is not None and not self._session.closed

    def apply(
        self,
        specs: list[InstanceSpec],
        version: int | None = None,
        services: Sequence[str] = (),
    ) -> None:
        added, removed = self.upstreams.update(specs, version, services)
        for instance in removed:
            with contextlib.suppress(KeyError):
                INSTANCE_HEALTHY.remove(instance.service, instance.name)
        for instance in added:
            INSTANCE_HEALTHY.labels(instance.service, instance.name).set(0)
            if self._session is not None and self._tasks:
                task = asyncio.create_task(self.check(instance))
                self._checks.add(task)
                task.add_done_callback(self._checks.discard)
        if added or removed:
            logger.info(
                "discovery version %s: +%s -%s",
                version,
                [i.name for i in added],
                [i.name for i in removed],
            )

    def reload(self, path: Path) -> None:
        """Re-read the registry if its file changed since the last look."""
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            if self._signature is not None:
                logger.warning("registry %s disappeared; keeping the last table", path)
                self._signature = None
            return
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._signature:
            return
        try:
            version, specs, services = parse_registry(path.read_bytes())
        except (OSError, RegistryError) as exc:
            # The launcher renames whole files into place, so this is a writer
            # bug or a hand edit; keep routing on the last good table.
            logger.warning("ignoring unreadable registry %s: %s", path, exc)
            self._signature = signature
            return
        self._signature = signature
        self.apply(specs, version, services)

    async def _watch(self, path: Path) -> None:
        while True:
            await asyncio.sleep(self.settings.registry_poll_interval)
            try:
                self.reload(path)
            except Exception:
                logger.exception("registry reload failed")

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_interval)
            try:
                await self.check_all()
            except Exception:
                logger.exception("health check round failed")

    async def confirm_starting(self, service: str) -> bool:
        """Check ``service``'s starting instances now; True if one is ready since.

        The registry is looked at first: the launcher lists an instance once it
        is ready, and the last look may be a poll interval old.
        """
        if self.settings.registry is not None:
            self.reload(self.settings.registry)
        starting = [i for i in self.upstreams.get(service) or () if not i.served]
        if not starting or self._session is None or self._session.closed:
            return False
        waits = []
        for instance in starting:
            task = self._confirming.get(instance)
            if task is None:
                task = self._confirming[instance] = asyncio.create_task(self._confirm(instance))
            waits.append(task)
        await asyncio.wait(waits, timeout=self.settings.health_timeout)
        return any(instance.healthy for instance in starting)

    async def instance_for(self, service: str) -> Instance | None:
        """An instance of ``service`` to send one request to; starting ones are asked first."""
        instances = self.upstreams.get(service) or []
        found = self.balancer.pick(service, instances)
        if found is None and await self.confirm_starting(service):
            found = self.balancer.pick(service, self.upstreams.get(service) or [])
        return found

    async def _confirm(self, instance: Instance) -> None:
        try:
            await self.check(instance)
        finally:
            self._confirming.pop(instance, None)

    async def check_all(self) -> None:
        await asyncio.gather(*(self.check(instance) for instance in self.upstreams.all()))

    async def check(self, instance: Instance) -> None:
        assert self._session is not None
        started = self.balancer.clock()
        slow = False
        try:
            async with self._session.get(f"{instance.url}/health/ready") as response:
                ready = response.status == 200
                await response.read()
        except TimeoutError:
            ready, slow = False, True
        except aiohttp.ClientError:
            ready = False
        was, first = instance.healthy, not instance.checked
        self.balancer.health_checked(instance, ready, started, slow=slow)
        if instance.healthy != was or first:
            state = "up" if instance.healthy else "down"
            logger.info("%s %s is %s", instance.name, instance.url, state)
        if instance in (self.upstreams.get(instance.service) or ()):
            INSTANCE_HEALTHY.labels(instance.service, instance.name).set(1 if ready else 0)
