"""Readiness: gating checks take an instance out of rotation, reported-only ones do not."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request

from emporium.chassis.health import Health, ReadinessCheck

REQUEST = Request({"type": "http", "method": "GET", "path": "/health/ready", "headers": []})


def _check(answer: bool) -> ReadinessCheck:
    async def check() -> bool:
        return answer

    return check


async def _ready(health: Health) -> tuple[int, dict[str, object]]:
    response = await health.ready(REQUEST)
    return response.status_code, json.loads(bytes(response.body))


async def test_a_failing_broker_is_reported_but_keeps_the_instance_in_rotation() -> None:
    health = Health({})
    health.add("store", _check(True))
    health.add("broker", _check(False), gating=False)
    health.started = True
    status, body = await _ready(health)
    assert status == 200
    assert body == {"status": "ready", "checks": {"store": True, "broker": False}}


async def test_a_failing_gating_check_or_draining_takes_it_out() -> None:
    health = Health({})
    health.add("store", _check(False))
    health.add("broker", _check(True), gating=False)
    health.started = True
    assert (await _ready(health))[0] == 503
    health.checks["store"] = _check(True)
    health.draining = True
    status, body = await _ready(health)
    assert status == 503
    assert body["status"] == "draining"


async def test_a_hanging_reported_only_check_does_not_hold_the_answer() -> None:
    # A broker client reconnecting can hang its check; the gateway waits about a
    # second for /health/ready, so the answer must not wait for the check's full
    # timeout (which gating checks still get).
    async def hangs() -> bool:
        await asyncio.sleep(60)
        return True

    health = Health({}, timeout=30.0)
    health.add("store", _check(True))
    health.add("broker", hangs, gating=False)
    health.started = True
    status, body = await asyncio.wait_for(_ready(health), 5.0)
    assert status == 200
    assert body["checks"] == {"store": True, "broker": False}
