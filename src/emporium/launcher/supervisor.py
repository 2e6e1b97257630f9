"""The set of running instances: start, scale, publish the registry, shut down.

The supervisor keeps the registry file equal to "every non-gateway instance
whose process is running, that has passed readiness, and is not being
stopped". Stopping (scale-down or shutdown) always takes an instance out of the
registry first, waits ``drain`` seconds so the gateway stops routing to it, and
only then sends SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
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
        context.on_change = self.publish

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
        """Stop every instance of ``service`` and start as many again, under the same
        names (the gateway on its port), with ``env`` added to their environment
        from now on (a crash restart keeps it). Only ``EMPORIUM_*`` variables;
        other services are untouched."""
        spec = self.table.get(service)
        refused = sorted(key for key in env if not key.startswith("EMPORIUM_"))
        if refused:
            raise ReplicaError(f"only EMPORIUM_* variables may be set, not {', '.join(refused)}")
        async with self._scale_lock:
            live = self._live(service)
            self.service_env[service] = {**self.service_env.get(service, {}), **env}
            await self._stop(live)
            started = self._add(spec, len(live))
            not_ready = await self.wait_ready(started, ready_timeout)
        return {
            "service": service,
            "restarted": [i.name for i in started],
            "env": self.service_env[service],
            "not_ready": [i.name for i in not_ready],
        }

    async def shutdown(self) -> None:
        """Drain: leave the registry, then the gateway, then the services in parallel."""
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
