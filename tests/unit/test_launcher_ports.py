"""Instances starting together never get the same port (free_port only says "free now")."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from emporium.launcher import instance as instance_module
from emporium.launcher.instance import Instance, InstanceContext
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
