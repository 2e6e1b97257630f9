"""Fault injection into this instance's own responses, for the chaos tools.

In the spirit of Envoy's fault-injection filter: while a fault is set, a
request is delayed by ``delay_ms`` (a ``delay_rate`` share of them) and then
a share ``error_rate`` of them is answered at once with a problem+json
``error_status`` (503 by default) instead of reaching the service. Probes,
scrapes and control (``/health/*``, ``/metrics``, ``/internal/*``) are never
touched, so the launcher still sees the instance and can clear the fault.

Lifecycle and guarantees:

- A fault lives in this process only (one instance) and always carries its
  end: it stops applying by itself after ``seconds``, so a chaos run that dies
  leaves nothing behind. Setting a fault replaces the one before.
- It is set, read and cleared through ``PUT``/``GET``/``DELETE
  /internal/fault``, on the instance's own port: the gateway never routes
  ``/internal/``, and in Kubernetes the NetworkPolicies keep pods apart.
- Only an instance started with ``EMPORIUM_FAULT_INJECTION=true`` has the
  middleware at all; the launcher sets it in the local profile, the prod
  profile refuses it. Elsewhere the endpoint answers 403 and requests pay
  nothing; with it on and no fault set, a request costs one attribute read.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emporium.chassis.internal import FAULT_PATH
from emporium.chassis.problems import problem_response

__all__ = [
    "FAULT_HEADER",
    "FAULT_PATH",
    "FaultMiddleware",
    "FaultRequest",
    "FaultSwitch",
    "fault_endpoint",
]

logger = logging.getLogger(__name__)

# Never faulted: the launcher's probes and control, and Prometheus.
_EXEMPT = ("/health/", "/internal/", "/metrics")
# Marks an injected answer, so a caller (or a test) can tell it from a real one.
FAULT_HEADER = "x-emporium-fault"


class FaultRequest(BaseModel):
    """The body of ``PUT /internal/fault``."""

    model_config = ConfigDict(extra="forbid")

    delay_ms: float = Field(default=0.0, ge=0, le=60_000)
    delay_rate: float = Field(default=1.0, ge=0, le=1)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_status: int = Field(default=503, ge=400, le=599)
    seconds: float = Field(gt=0, le=3600)

    @model_validator(mode="after")
    def _does_something(self) -> FaultRequest:
        if self.delay_ms == 0 and self.error_rate == 0:
            raise ValueError("a fault needs delay_ms or error_rate above 0")
        return self


@dataclass(frozen=True)
class _Fault:
    request: FaultRequest
    until: float  # on the switch's clock

    def describe(self, now: float) -> dict[str, float | int]:
        return {**self.request.model_dump(), "remaining_s": round(max(0.0, self.until - now), 1)}


class FaultSwitch:
    """The fault this instance applies now, if any; expires by itself."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.clock = clock
        self.chance = chance
        # Read on every request: None is the whole cost of having the switch.
        self.current: _Fault | None = None

    def set(self, request: FaultRequest) -> dict[str, float | int]:
        self.current = fault = _Fault(request, self.clock() + request.seconds)
        logger.warning("fault injected for %g s: %s", request.seconds, request.model_dump())
        return fault.describe(self.clock())

    def clear(self) -> bool:
        had, self.current = self.current is not None, None
        if had:
            logger.warning("fault cleared")
        return had

    def active(self) -> _Fault | None:
        """The current fault, or None once it has run its time (and then forgets it)."""
        fault = self.current
        if fault is not None and self.clock() >= fault.until:
            if self.current is fault:  # not replaced meanwhile
                self.current = None
                logger.warning("fault expired")
            return None
        return fault


class FaultMiddleware:
    """Applies the switch's fault to every request but probes, scrapes and control."""

    def __init__(self, app: ASGIApp, *, switch: FaultSwitch) -> None:
        self.app = app
        self.switch = switch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.switch.current is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        fault = None if path.startswith(_EXEMPT) else self.switch.active()
        if fault is None:
            await self.app(scope, receive, send)
            return
        spec = fault.request
        if spec.delay_ms and (spec.delay_rate >= 1 or self.switch.chance() < spec.delay_rate):
            await asyncio.sleep(spec.delay_ms / 1000)
        if spec.error_rate and self.switch.chance() < spec.error_rate:
            response = problem_response(
                spec.error_status,
                "Injected fault: this instance is answering errors on purpose (emporium chaos)",
                instance=path,
                headers={FAULT_HEADER: "error"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def fault_endpoint(request: Request) -> Response:
    """``GET``/``PUT``/``DELETE /internal/fault``: this instance's injected fault."""
    switch: FaultSwitch | None = request.app.state.faults
    if switch is None:
        return problem_response(
            403,
            "Fault injection is off on this instance "
            "(EMPORIUM_FAULT_INJECTION, local profile only)",
            instance=request.url.path,
        )
    if request.method == "DELETE":
        return JSONResponse({"cleared": switch.clear(), "fault": None})
    if request.method == "PUT":
        try:
            wanted = FaultRequest.model_validate_json(await request.body())
        except ValidationError as error:
            details = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()
            )
            return problem_response(422, f"Invalid fault: {details}", instance=request.url.path)
        return JSONResponse({"fault": switch.set(wanted)})
    fault = switch.active()
    return JSONResponse({"fault": None if fault is None else fault.describe(switch.clock())})
