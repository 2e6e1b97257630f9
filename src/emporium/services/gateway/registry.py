"""Which instances serve which service, and what the gateway knows about each.

:class:`Upstreams` is the gateway's routing table. It is replaced wholesale
from a registry document or a static map by :meth:`Upstreams.update`, which
keeps the state (health, ejection, counters) of every instance that stays, so
a reload never resets a balance or forgets a failing instance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emporium.chassis.registry import InstanceSpec, RegistryError, clean_url, parse_registry

__all__ = [
    "Instance",
    "InstanceSpec",
    "RegistryError",
    "Upstreams",
    "parse_registry",
    "parse_static",
]


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


def parse_static(upstreams: Mapping[str, Iterable[str]]) -> list[InstanceSpec]:
    """Turn ``{"catalog": ["http://catalog:8000"]}`` into instances named by index."""
    specs: list[InstanceSpec] = []
    for service, urls in upstreams.items():
        for index, url in enumerate(urls, start=1):
            specs.append(InstanceSpec(service, f"{service}-{index}", clean_url(url)))
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
