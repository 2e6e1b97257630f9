"""Latency and errors injected into a service's responses, through its instances.

The launcher's ``POST /fault`` hands a fault (see :mod:`emporium.chassis.faults`)
to every running instance of a service, or to one instance, on each one's own
``/internal/fault``; ``"fault": null`` clears it. Every fault carries its
duration and each instance drops it by itself at the end, so nothing here
needs undoing if the caller goes away. An instance started after the call (a
restart, a scale-up) has no fault: the fault is on processes, not on the
service's future.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import aiohttp

from emporium.chassis.internal import FAULT_PATH
from emporium.launcher.instance import Instance
from emporium.launcher.specs import ReplicaError

__all__ = ["FaultRefusedError", "inject"]

_TIMEOUT = aiohttp.ClientTimeout(total=5.0)


class FaultRefusedError(RuntimeError):
    """An instance would not take the fault (fault injection off, or a bad fault)."""


def targets(instances: Iterable[Instance], service: str, instance: str | None) -> list[Instance]:
    """The running instances a fault is for; the gateway never takes one (it alone
    would fail every request, and it answers nothing under /internal/)."""
    chosen = [
        i
        for i in instances
        if not i.stopping
        and i.pid is not None
        and i.spec.name == service
        and (instance is None or i.name == instance)
    ]
    if any(i.spec.gateway for i in chosen):
        raise ReplicaError("the gateway takes no injected faults; pick a service behind it")
    if not chosen:
        raise ReplicaError(f"no running instance {instance or 'of ' + service!r}")
    return sorted(chosen, key=lambda i: i.index)


async def _one(
    session: aiohttp.ClientSession, instance: Instance, fault: dict[str, Any] | None
) -> dict[str, Any]:
    url = f"{instance.url}{FAULT_PATH}"
    try:
        if fault is None:
            request = session.delete(url, timeout=_TIMEOUT)
        else:
            request = session.put(url, json=fault, timeout=_TIMEOUT)
        async with request as response:
            body = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        return {
            "instance": instance.name,
            "status": None,
            "error": str(error) or type(error).__name__,
        }
    if status != 200:
        return {"instance": instance.name, "status": status, "error": body.get("detail", status)}
    return {"instance": instance.name, "status": status, "fault": body.get("fault")}


async def inject(
    session: aiohttp.ClientSession,
    instances: Iterable[Instance],
    service: str,
    fault: dict[str, Any] | None,
    *,
    instance: str | None = None,
) -> dict[str, Any]:
    """Set ``fault`` (None: clear) on ``service``'s running instances, or on
    ``instance`` alone. Raises :class:`FaultRefusedError` if one refused it or
    none answered (those that took it keep it until it expires, or is cleared)."""
    chosen = targets(instances, service, instance)
    answers = await asyncio.gather(*(_one(session, i, fault) for i in chosen))
    # An instance that answered no is a mistake to report (injection off, a bad
    # fault); one that did not answer at all is restarting, and has no fault
    # to keep anyway. Only if none took it has nothing happened.
    refused = [a for a in answers if "error" in a and a["status"] is not None]
    if refused or all("error" in a for a in answers):
        raise FaultRefusedError(
            "; ".join(f"{a['instance']}: {a['error']}" for a in refused or answers)
        )
    return {"service": service, "instances": answers}
