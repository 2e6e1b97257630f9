"""Parsing ``SERVICE=N`` for ``up --replicas`` and ``scale``."""

from __future__ import annotations

import importlib.util

import pytest

from emporium.launcher.specs import (
    DEFAULT_TABLE,
    ReplicaError,
    ServiceSpec,
    ServiceTable,
    parse_replicas,
    parse_scale,
)

TABLE = ServiceTable(
    services=(
        ServiceSpec("catalog", "x.catalog", default_replicas=2),
        ServiceSpec("inventory", "x.inventory"),
        ServiceSpec("gateway", "x.gateway", gateway=True),
    )
)


def test_replicas_default_to_the_table() -> None:
    assert parse_replicas([], TABLE) == {"catalog": 2, "inventory": 1, "gateway": 1}


def test_replicas_arguments_override_only_their_service() -> None:
    assert parse_replicas(["catalog=3", " inventory = 0 "], TABLE) == {
        "catalog": 3,
        "inventory": 0,
        "gateway": 1,
    }


def test_the_last_argument_for_a_service_wins() -> None:
    assert parse_replicas(["catalog=3", "catalog=5"], TABLE)["catalog"] == 5


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("catalog", "expected SERVICE=N"),
        ("=3", "expected SERVICE=N"),
        ("catalog=x", "whole number"),
        ("catalog=", "whole number"),
        ("catalog=1.5", "whole number"),
        ("catalog=-1", "negative"),
        ("payments=2", "unknown service 'payments'"),
        ("gateway=2", "at most 1"),
    ],
)
def test_bad_scale_arguments_say_what_is_wrong(argument: str, message: str) -> None:
    with pytest.raises(ReplicaError, match=message):
        parse_scale(argument, TABLE)


def test_gateway_may_be_scaled_to_one_or_zero() -> None:
    assert parse_scale("gateway=1", TABLE) == ("gateway", 1)
    assert parse_scale("gateway=0", TABLE) == ("gateway", 0)


def test_the_gateway_is_always_limited_to_one_instance() -> None:
    assert ServiceSpec("gw", "x.gw", gateway=True).max_replicas == 1


def test_a_table_refuses_duplicate_names_and_two_gateways() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        ServiceTable(services=(ServiceSpec("a", "x"), ServiceSpec("a", "y")))
    with pytest.raises(ValueError, match="gateway"):
        ServiceTable(
            services=(ServiceSpec("a", "x", gateway=True), ServiceSpec("b", "y", gateway=True))
        )


def test_default_table_runs_the_real_services_and_seeds_the_catalog() -> None:
    assert {"catalog", "inventory", "gateway"} <= set(DEFAULT_TABLE.names)
    assert DEFAULT_TABLE.names[-1] == "gateway", "the gateway starts last"
    for spec in DEFAULT_TABLE.services:
        assert spec.module == f"emporium.services.{spec.name}"
        assert importlib.util.find_spec(f"{spec.module}.__main__") is not None, spec.module
    assert [step.module for step in DEFAULT_TABLE.pre_start] == ["emporium.services.catalog.seed"]
    assert DEFAULT_TABLE.pre_start[0].profiles == ("local",)
