"""Readiness: gating checks take an instance out of rotation, reported-only ones do not."""

from __future__ import annotations

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
