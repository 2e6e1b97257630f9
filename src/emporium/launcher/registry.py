"""The registry document the gateway reads: which instances serve which service.

It is rewritten whole, atomically (temporary file then rename), so the gateway
never reads half a document; ``version`` only ever increases, even across
launcher restarts on the same var directory.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RegistryEntry", "RegistryWriter", "build_document"]


@dataclass(frozen=True)
class RegistryEntry:
    service: str
    instance: str
    url: str
    pid: int
    restarts: int = 0  # crashes the supervisor restarted, shown on the ops page


def build_document(
    version: int, entries: Iterable[RegistryEntry], services: Iterable[str] = ()
) -> dict[str, Any]:
    """``services`` names every service the launcher runs, even one with no
    instance up at the moment, so the gateway answers 503 (not 404) for it."""
    ordered = sorted(entries, key=lambda entry: (entry.service, entry.instance))
    return {
        "version": version,
        "services": sorted(set(services) | {entry.service for entry in ordered}),
        "instances": [
            {
                "service": e.service,
                "instance": e.instance,
                "url": e.url,
                "pid": e.pid,
                "restarts": e.restarts,
            }
            for e in ordered
        ],
    }


def _current_version(path: Path) -> int:
    try:
        version = json.loads(path.read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    return version if isinstance(version, int) else 0


class RegistryWriter:
    """Writes successive versions of the registry file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.version = _current_version(path)

    def write(
        self, entries: Iterable[RegistryEntry], services: Iterable[str] = ()
    ) -> dict[str, Any]:
        self.version += 1
        document = build_document(self.version, entries, services)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".registry-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle, indent=2)
                handle.write("\n")
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return document
