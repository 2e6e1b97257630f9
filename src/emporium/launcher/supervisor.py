"""The set of running instances: start, scale, publish the registry, shut down.

The supervisor keeps the registry file equal to "every non-gateway instance
whose process is running, that has passed readiness, and is not being
stopped". Stopping (scale-down or shutdown) always takes an instance out of the
registry first, waits ``drain`` seconds so the gateway stops routing to it, and
only then sends SIGTERM.

:meth:`Supervisor.restart` replaces a service's instances one at a time (start
the new one, wait until it is ready and the gateway has seen it, then drain the
old one), so a service with traffic never has fewer ready instances than
before. :meth:`Supervisor.send_signal` is the chaos tools' hand: it signals one
instance's process, and a frozen (SIGSTOP) process is always resumed, by a
timer, by SIGCONT, or at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterable, Mapping
from typing import Any

from emporium.launcher.instance import Instance, InstanceContext, tail
from emporium.launcher.registry import RegistryEntry, RegistryWriter
from emporium.launcher.specs import ReplicaError, ServiceSpec, ServiceTable, parse_scale

__all__ = ["Supervisor"]

logger = logging.getLogger(__name__)


class Supervisor:
    def __init__(
        self,
        table: ServiceTable,
        context: InstanceContext,
        registry: RegistryWriter,
        *,
        gateway_port: int,
        drain: float = 1.0,
    ) -> None:
        self.table = table
        self.context = context
        self.registry = registry
        self.gateway_port = gateway_port
        self.drain = drain
        self.instances: list[Instance] = []
        self._published: frozenset[RegistryEntry] | None = None
        self._scale_lock = asyncio.Lock()
        # Set by :meth:`restart`: environment added to a service's later instances.
        self.service_env: dict[str, dict[str, str]] = {}
        # pid -> the timer that resumes it: every process frozen by send_signal.
        self._frozen: dict[int, asyncio.Task[None]] = {}
        context.on_change = self.publish
        context.ports.add(gateway_port)

    # -- registry -----------------------------------------------------------

    def registry_entries(self) -> frozenset[RegistryEntry]:
        return frozenset(
            RegistryEntry(i.spec.name, i.name, i.url, pid, i.restarts)
            for i in self.instances
            if not i.spec.gateway
            and not i.stopping
            and i.ready.is_set()
            and (pid := i.pid) is not None
        )

    def publish(self) -> None:
        entries = self.registry_entries()
        if entries == self._published:
            return
        self._published = entries
        services = [spec.name for spec in self.table.services if not spec.gateway]
        document = self.registry.write(entries, services)
        logger.debug("registry version %d: %d instance(s)", document["version"], len(entries))

    # -- lifecycle ----------------------------------------------------------

    def _new_instance(self, spec: ServiceSpec, index: int) -> Instance:
        if spec.gateway:
            env = {
                **self.service_env.get(spec.name, {}),
                "EMPORIUM_GATEWAY_REGISTRY": str(self.registry.path),
            }
            return Instance(spec, index, self.context, fixed_port=self.gateway_port, extra_env=env)
        return Instance(spec, index, self.context, extra_env=self.service_env.get(spec.name))

    def _live(self, service: str) -> list[Instance]:
        return sorted(
            (i for i in self.instances if i.spec.name == service and not i.stopping),
            key=lambda i: i.index,
        )

    def _add(self, spec: ServiceSpec, count: int) -> list[Instance]:
        used = {i.index for i in self.instances if i.spec.name == spec.name}
        added: list[Instance] = []
        index = 1
        while len(added) < count:
            if index not in used:
                instance = self._new_instance(spec, index)
                self.instances.append(instance)
                instance.start()
                added.append(instance)
            index += 1
        return added

    def start(self, replicas: Mapping[str, int]) -> list[Instance]:
        """Start every instance at once; the gateway last, once the others are spawning."""
        self.publish()  # the gateway finds a registry from its first moment
        ordered = sorted(self.table.services, key=lambda spec: spec.gateway)
        started: list[Instance] = []
        for spec in ordered:
            started += self._add(spec, replicas.get(spec.name, spec.default_replicas))
        return started

    async def wait_ready(self, instances: Iterable[Instance], within: float) -> list[Instance]:
        """Wait until all ``instances`` are ready; return those that were not in time."""
        pending = list(instances)
        waits = [asyncio.create_task(i.ready.wait()) for i in pending]
        if waits:
            _, not_done = await asyncio.wait(waits, timeout=within)
            for task in not_done:
                task.cancel()
        return [i for i in pending if not i.ready.is_set()]

    async def _stop(self, instances: list[Instance]) -> None:
        if not instances:
            return
        for instance in instances:
            instance.begin_stop()
        if self.drain:
            await asyncio.sleep(self.drain)
        await asyncio.gather(*(i.stop() for i in instances))
        for instance in instances:
            self.instances.remove(instance)

    async def scale(self, argument: str, *, ready_timeout: float = 60.0) -> dict[str, Any]:
        """Apply ``SERVICE=N``; start or stop instances of that service only."""
        name, replicas = parse_scale(argument, self.table)
        spec = self.table.get(name)
        async with self._scale_lock:
            live = self._live(name)
            started: list[Instance] = []
            removed: list[Instance] = []
            if replicas > len(live):
                started = self._add(spec, replicas - len(live))
            elif replicas < len(live):
                removed = live[replicas:]
            await self._stop(removed)
            not_ready = await self.wait_ready(started, ready_timeout)
        return {
            "service": name,
            "replicas": replicas,
            "started": [i.name for i in started],
            "stopped": [i.name for i in removed],
            "not_ready": [i.name for i in not_ready],
        }

    async def restart(
        self, service: str, env: Mapping[str, str], *, ready_timeout: float = 60.0
    ) -> dict[str, Any]:
        """Replace every instance of ``service``, one at a time, with ``env`` added
        to their environment from now on (a crash restart keeps it). Only
        ``EMPORIUM_*`` variables; other services are untouched.

        Each step starts the replacement, waits until it is ready and one drain
        period more (the gateway reads the registry and health-checks the new
        instance in that time), then drains the old one (out of the registry, a
        drain period, SIGTERM: uvicorn finishes the requests in flight). The
        gateway has a fixed port, so it alone is stopped before it is started.
        A replacement that is not ready in time stops the rollout with the old
        instances still serving."""
        spec = self.table.get(service)
        refused = sorted(key for key in env if not key.startswith("EMPORIUM_"))
        if refused:
            raise ReplicaError(f"only EMPORIUM_* variables may be set, not {', '.join(refused)}")
        async with self._scale_lock:
            live = self._live(service)
            self.service_env[service] = {**self.service_env.get(service, {}), **env}
            started: list[Instance] = []
            not_ready: list[Instance] = []
            for old in live:
                if spec.gateway:
                    await self._stop([old])
                    started += self._add(spec, 1)
                    not_ready = await self.wait_ready(started[-1:], ready_timeout)
                    continue
                [new] = self._add(spec, 1)
                started.append(new)
                not_ready = await self.wait_ready([new], ready_timeout)
                if not_ready:
                    logger.warning("%s not ready in %gs; rollout of %s stopped", new.name,
                                   ready_timeout, service)  # fmt: skip
                    break
                if self.drain:
                    await asyncio.sleep(self.drain)
                await self._stop([old])
        return {
            "service": service,
            "restarted": [i.name for i in started],
            "env": self.service_env[service],
            "not_ready": [i.name for i in not_ready],
        }

    # -- faults (the chaos tools) -------------------------------------------

    def send_signal(
        self, name: str, signum: signal.Signals, *, resume_after: float | None = None
    ) -> dict[str, Any]:
        """Send ``signum`` to instance ``name``'s process now. A SIGKILL is a crash
        like any other: the instance restarts with backoff. A SIGSTOP freezes it
        until SIGCONT, or for ``resume_after`` seconds when given."""
        found = [i for i in self.instances if i.name == name and not i.stopping]
        if not found or (pid := found[0].pid) is None:
            raise ReplicaError(f"no running instance {name!r}")
        if signum is signal.SIGCONT:
            self._resume(pid)
        else:
            os.kill(pid, signum)
        if signum is signal.SIGSTOP and pid not in self._frozen:
            self._frozen[pid] = asyncio.create_task(self._resume_later(pid, resume_after))
        logger.warning("%s (pid %d) sent %s", name, pid, signum.name)
        return {"instance": name, "pid": pid, "signal": signum.name}

    async def _resume_later(self, pid: int, after: float | None) -> None:
        if after is None:
            await asyncio.Event().wait()  # until SIGCONT or shutdown cancels us
        await asyncio.sleep(after or 0)
        self._frozen.pop(pid, None)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)

    def _resume(self, pid: int) -> None:
        timer = self._frozen.pop(pid, None)
        if timer is not None:
            timer.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)

    def resume_all(self) -> list[int]:
        """SIGCONT every process still frozen; return their pids."""
        frozen = list(self._frozen)
        for pid in frozen:
            self._resume(pid)
        return frozen

    async def shutdown(self) -> None:
        """Drain: leave the registry, then the gateway, then the services in parallel."""
        self.resume_all()  # a frozen process cannot drain
        async with self._scale_lock:
            for instance in self.instances:
                instance.begin_stop()
            if self.drain and any(i.pid is not None for i in self.instances):
                await asyncio.sleep(self.drain)
            gateways = [i for i in self.instances if i.spec.gateway]
            await asyncio.gather(*(i.stop() for i in gateways))
            await asyncio.gather(*(i.stop() for i in self.instances if not i.spec.gateway))
            self.instances.clear()
            self.publish()

    def status(self) -> list[dict[str, Any]]:
        order = {name: position for position, name in enumerate(self.table.names)}
        return [
            i.describe()
            for i in sorted(self.instances, key=lambda i: (order.get(i.spec.name, 0), i.index))
        ]

    def not_ready_report(self, instances: Iterable[Instance], lines: int = 15) -> str:
        parts = []
        for i in instances:
            parts.append(
                f"--- {i.name} (state {i.state}, restarts {i.restarts}, port {i.port}); "
                f"last lines of {i.log_path}:"
            )
            parts.extend(tail(i.log_path, lines) or ["(no output)"])
        return "\n".join(parts)
