"""Which instances serve which service, and what the gateway knows about each.

:class:`Upstreams` is the gateway's routing table. It is replaced wholesale
from a registry document or a static map by :meth:`Upstreams.update`, which
keeps the state (health, ejection, counters) of every instance that stays, so
a reload never resets a balance or forgets a failing instance.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Instance",
    "InstanceSpec",
    "RegistryError",
    "Upstreams",
    "parse_registry",
    "parse_static",
]


class RegistryError(ValueError):
    """The registry document is not what the launcher writes."""


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """An instance as discovery announces it; identity is the first three fields.

    ``restarts`` is what the launcher reports about the instance, not part of
    its identity: a new count updates the kept instance instead of replacing it.
    """

    service: str
    name: str
    url: str
    restarts: int | None = field(default=None, compare=False)


@dataclass(slots=True, eq=False)
class Instance:
    """One upstream instance and the gateway's live view of it.

    ``healthy`` starts false: an instance receives traffic only after its first
    passing health check. ``ejected_until`` is a monotonic time; ``ejected_by``
    says whether a passing health check may end the ejection early (a
    connection failure) or not (a run of 5xx, which health checks cannot see).
    """

    service: str
    name: str
    url: str
    healthy: bool = False
    ejected_at: float = 0.0
    ejected_until: float = 0.0
    ejected_by: str = ""
    in_flight: int = 0
    requests: int = 0
    failures: int = 0
    consecutive_5xx: int = 0
    slow_checks: int = 0
    checked: bool = False
    served: bool = False  # passed a health check since it appeared: no longer starting
    restarts: int | None = None  # None: discovery does not know (static upstreams)

    @property
    def spec(self) -> InstanceSpec:
        return InstanceSpec(self.service, self.name, self.url)

    def available(self, now: float) -> bool:
        return self.healthy and self.ejected_until <= now

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "service": self.service,
            "instance": self.name,
            "url": self.url,
            "healthy": self.healthy,
            "ejected_until": self.ejected_until if self.ejected_until > now else None,
            "ejected_for": round(self.ejected_until - now, 3) if self.ejected_until > now else 0,
            "in_flight": self.in_flight,
            "requests": self.requests,
            "failures": self.failures,
            "restarts": self.restarts,
        }


def _clean_url(url: str) -> str:
    return url.rstrip("/")


def parse_registry(raw: str | bytes) -> tuple[int, list[InstanceSpec], list[str]]:
    """Parse the launcher's registry document into its version, instances and
    known services (a known service with no instance is a 503, not a 404)."""
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise RegistryError(f"registry is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise RegistryError("registry must be a JSON object")
    version = document.get("version")
    entries = document.get("instances")
    if not isinstance(version, int) or not isinstance(entries, list):
        raise RegistryError("registry needs an integer 'version' and an 'instances' list")
    specs: list[InstanceSpec] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise RegistryError("each registry instance must be an object")
        service, url = entry.get("service"), entry.get("url")
        if not isinstance(service, str) or not service or not isinstance(url, str) or not url:
            raise RegistryError(f"registry instance lacks 'service' or 'url': {entry!r}")
        name = entry.get("instance")
        name = name if isinstance(name, str) and name else f"{service}@{url}"
        restarts = entry.get("restarts")
        restarts = restarts if isinstance(restarts, int) and restarts >= 0 else None
        specs.append(InstanceSpec(service, name, _clean_url(url), restarts))
    services = document.get("services", [])
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise RegistryError("registry 'services' must be a list of names")
    return version, specs, services


def parse_static(upstreams: Mapping[str, Iterable[str]]) -> list[InstanceSpec]:
    """Turn ``{"catalog": ["http://catalog:8000"]}`` into instances named by index."""
    specs: list[InstanceSpec] = []
    for service, urls in upstreams.items():
        for index, url in enumerate(urls, start=1):
            specs.append(InstanceSpec(service, f"{service}-{index}", _clean_url(url)))
    return specs


@dataclass
class Upstreams:
    """The routing table: service name → its instances, in a stable order."""

    services: dict[str, list[Instance]] = field(default_factory=dict)
    version: int | None = None

    def get(self, service: str) -> list[Instance] | None:
        return self.services.get(service)

    def all(self) -> list[Instance]:
        return [instance for group in self.services.values() for instance in group]

    def update(
        self,
        specs: Iterable[InstanceSpec],
        version: int | None = None,
        services_known: Iterable[str] = (),
    ) -> tuple[list[Instance], list[Instance]]:
        """Replace the table; return (added, removed). Kept instances keep their state."""
        current = {instance.spec: instance for instance in self.all()}
        services: dict[str, list[Instance]] = {name: [] for name in services_known}
        added: list[Instance] = []
        seen: set[InstanceSpec] = set()
        for spec in specs:
            if spec in seen:
                continue
            seen.add(spec)
            instance = current.pop(spec, None)
            if instance is None:
                instance = Instance(spec.service, spec.name, spec.url)
                added.append(instance)
            instance.restarts = spec.restarts
            services.setdefault(spec.service, []).append(instance)
        self.services = services
        self.version = version
        return added, list(current.values())
