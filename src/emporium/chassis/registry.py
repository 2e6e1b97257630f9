"""The launcher's registry, read: which ready instances serve which service.

Locally the launcher keeps ``var/run/registry.json`` equal to "every ready
instance, by service" (``emporium.launcher.registry`` writes it whole, then
renames it into place). The gateway routes by it, and a service's
:class:`~emporium.chassis.http.ServiceClient` can too: with
:class:`RegistryEndpoints` it calls another service's instances directly, in
turn, as it does through a Kubernetes Service, instead of through the gateway.

Nothing here is used where ``EMPORIUM_REGISTRY_FILE`` is unset (compose,
Kubernetes): there each service has one URL that balances by itself.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "InstanceSpec",
    "RegistryEndpoints",
    "RegistryError",
    "RegistryFile",
    "clean_url",
    "parse_registry",
    "registry_file",
]

logger = logging.getLogger(__name__)


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


def clean_url(url: str) -> str:
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
        specs.append(InstanceSpec(service, name, clean_url(url), restarts))
    services = document.get("services", [])
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise RegistryError("registry 'services' must be a list of names")
    return version, specs, services


class RegistryFile:
    """One registry file, read again whenever it changed.

    A lookup stats the file at most once per ``interval`` seconds, well inside
    the launcher's drain (an instance leaves the registry a second before it is
    told to stop), and parses it only when its inode, time or size moved. An
    unreadable document keeps the last good one; a missing file (the launcher
    is gone) means no instance is known, so callers fall back to their URL.
    """

    def __init__(self, path: Path, interval: float = 0.25) -> None:
        self.path = path
        self.interval = interval
        self._looked = float("-inf")
        self._stamp: tuple[int, int, int] | None = None
        self._urls: dict[str, tuple[str, ...]] = {}

    def urls(self, service: str) -> tuple[str, ...]:
        """The base URLs of ``service``'s ready instances, in the registry's order."""
        now = time.monotonic()
        if now - self._looked >= self.interval:
            self._looked = now
            self._refresh()
        return self._urls.get(service, ())

    def _refresh(self) -> None:
        try:
            stat = os.stat(self.path)
        except OSError:
            self._stamp, self._urls = None, {}
            return
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            _, specs, _ = parse_registry(self.path.read_bytes())
        except (OSError, RegistryError) as exc:
            logger.warning("ignoring unreadable registry %s: %s", self.path, exc)
            return
        urls: dict[str, list[str]] = {}
        for spec in specs:
            urls.setdefault(spec.service, []).append(spec.url)
        self._stamp = stamp
        self._urls = {service: tuple(found) for service, found in urls.items()}


_files: dict[Path, RegistryFile] = {}


def registry_file(path: Path) -> RegistryFile:
    """The process's one reader of ``path`` (every client of it shares the reads)."""
    found = _files.get(path)
    if found is None:
        found = _files[path] = RegistryFile(path)
    return found


class RegistryEndpoints:
    """One service's instances from a :class:`RegistryFile`, each in turn.

    :meth:`set_aside` takes an instance out of turn for ``ejection`` seconds:
    it refused a connection (stopping, restarting or gone, which the registry
    will say within a moment) or did not answer in time (frozen, or swamped,
    which no registry says). :meth:`pick` returns None when no instance is
    listed or every one is set aside or excluded: the caller then uses its own
    URL (locally the gateway, which keeps its own view of every instance).
    """

    def __init__(self, file: RegistryFile, service: str, *, ejection: float = 2.0) -> None:
        self.file = file
        self.service = service
        self.ejection = ejection
        self._turn = 0
        self._set_aside: dict[str, float] = {}

    def pick(self, exclude: Collection[str] = ()) -> str | None:
        urls = self.file.urls(self.service)
        now = time.monotonic()
        for offset in range(len(urls)):
            url = urls[(self._turn + offset) % len(urls)]
            if url in exclude or self._set_aside.get(url, 0.0) > now:
                continue
            self._turn = (self._turn + offset + 1) % len(urls)
            return url
        return None

    def set_aside(self, url: str) -> None:
        now = time.monotonic()
        # Restarted instances come back on new ports: forget the old ones' marks.
        self._set_aside = {u: until for u, until in self._set_aside.items() if until > now}
        self._set_aside[url] = now + self.ejection
