"""The chaos schedule and what each fault's window says."""

from __future__ import annotations

import random

import pytest

from emporium.chaos import (
    Fault,
    FaultKind,
    PlanError,
    errors_in_window,
    plan_faults,
    traffic_elsewhere,
)

INSTANCES = ["cart-1", "catalog-1", "orders-1"]


def test_faults_are_spread_evenly_and_each_ends_before_the_next() -> None:
    faults = plan_faults(20, kills=1, freeze=2, broker=3, instances=INSTANCES, rng=random.Random(1))
    assert [(f.kind, f.at, f.seconds) for f in faults] == [
        (FaultKind.KILL, 5.0, 0.0),
        (FaultKind.FREEZE, 10.0, 2.0),
        (FaultKind.BROKER, 15.0, 3.0),
    ]
    assert faults[0].target in INSTANCES
    assert faults[2].target == "broker"


def test_kills_and_the_freeze_hit_different_instances_while_there_are_enough() -> None:
    faults = plan_faults(40, kills=2, freeze=1, broker=0, instances=INSTANCES, rng=random.Random(3))
    assert sorted(f.target for f in faults) == INSTANCES


def test_a_fault_that_would_overlap_the_next_is_refused() -> None:
    with pytest.raises(PlanError, match="longer --duration"):
        plan_faults(10, kills=0, freeze=4, broker=3, instances=INSTANCES, rng=random.Random(1))


def test_nothing_to_do_is_refused() -> None:
    with pytest.raises(PlanError, match="no faults"):
        plan_faults(10, kills=0, freeze=0, broker=0, instances=INSTANCES, rng=random.Random(1))


def test_errors_in_a_window_count_only_its_seconds_and_give_the_last_error() -> None:
    seconds = {
        "GET /api/cart": {"4": [10, 0], "5": [10, 3], "7": [10, 1], "12": [10, 5]},
        "POST /api/orders": {"6": [2, 2]},
    }
    errors, requests, last = errors_in_window(seconds, 5.0, 10.0)
    assert errors == {"GET /api/cart": 4, "POST /api/orders": 2}
    assert requests == 22
    assert last == 8.0


def test_recovery_is_the_later_of_the_last_error_and_everything_ready_again() -> None:
    fault = Fault(FaultKind.FREEZE, at=10, seconds=2, target="cart-1", started=10, ended=12)
    assert fault.recovered_after == 0.0
    fault.last_error = 13.0
    fault.ready_again = 12.4
    assert fault.recovered_after == 1.0
    fault.ready_again = 15.5
    assert fault.recovered_after == 3.5


def test_success_elsewhere_counts_only_the_routes_that_do_not_touch_the_faulted_service() -> None:
    seconds = {
        "GET /api/cart": {"5": [10, 3], "6": [10, 0]},
        "PUT /api/cart/items/{id}": {"5": [4, 4]},
        "GET /api/catalog/products/{id}": {"5": [50, 1], "6": [49, 0], "11": [50, 9]},
        "GET /unknown": {"5": [7, 7]},
    }
    routes = {
        "GET /api/cart": frozenset({"cart"}),
        "PUT /api/cart/items/{id}": frozenset({"cart", "catalog"}),
        "GET /api/catalog/products/{id}": frozenset({"catalog"}),
    }
    freeze = Fault(FaultKind.FREEZE, at=5, seconds=2, target="cart-1")
    assert freeze.service == "cart"
    # Only the catalog read is elsewhere; an unmapped route counts as touching it.
    freeze.elsewhere = traffic_elsewhere(seconds, 5.0, 10.0, freeze.service, routes)
    assert freeze.elsewhere == (99, 1)
    assert freeze.success_elsewhere == 0.9899
    broker = Fault(FaultKind.BROKER, at=5, seconds=2, target="broker")
    assert broker.service == "broker"
    assert traffic_elsewhere(seconds, 5.0, 10.0, broker.service, routes) == (123, 8)
    assert Fault(FaultKind.KILL, at=1, target="catalog-12").success_elsewhere is None
