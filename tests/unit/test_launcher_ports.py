"""Instances starting together never get the same port (free_port only says "free now")."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from emporium.launcher import instance as instance_module
from emporium.launcher import nats as nats_module
from emporium.launcher.instance import Instance, InstanceContext
from emporium.launcher.nats import EmbeddedNats
from emporium.launcher.specs import ServiceSpec


def test_a_port_handed_to_one_instance_is_not_handed_to_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = iter([5000, 5000, 5001, 5000])
    monkeypatch.setattr(instance_module, "free_port", lambda host: next(answers))
    context = InstanceContext(
        host="127.0.0.1",
        log_dir=Path("/nonexistent"),
        env={},
        session=cast(Any, None),
        on_change=lambda: None,
    )
    first = Instance(ServiceSpec("a", "m"), 1, context)
    second = Instance(ServiceSpec("b", "m"), 1, context)
    first.port = first._next_port()
    second.port = second._next_port()
    assert (first.port, second.port) == (5000, 5001)
    assert context.ports == {5000, 5001}


@pytest.mark.parametrize(("port", "monitor"), [(0, 0), (4300, 0), (0, 4300), (4302, 0), (1, 2)])
def test_the_embedded_broker_never_gets_one_port_for_both_of_its_listeners(
    monkeypatch: pytest.MonkeyPatch, port: int, monitor: int
) -> None:
    """Its client and monitor ports once came out the same, and nats-server could
    not bind the second: a port already set is kept, and the other differs from it."""
    candidates = [4303, 4300, 4301, 4302, 4304, 4305]
    monkeypatch.setattr(nats_module, "free_ports", lambda count, host: candidates[:count])
    server = EmbeddedNats(
        Path("/nonexistent"), port=port, monitor_port=monitor, avoid=frozenset({4303})
    )
    server.choose_ports()
    assert server.port != server.monitor_port
    assert 0 not in (server.port, server.monitor_port)
    assert 4303 not in (server.port, server.monitor_port)  # the gateway's, say
    assert port in (0, server.port)
    assert monitor in (0, server.monitor_port)
