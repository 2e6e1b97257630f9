"""The chaos schedule and what each fault's window says."""

from __future__ import annotations

import random

import pytest

from emporium.chaos import (
    Fault,
    FaultKind,
    Injection,
    PlanError,
    errors_in_window,
    judge,
    parse_errors,
    parse_latency,
    plan_faults,
    traffic_elsewhere,
)
from emporium.chaos.report import markdown

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


def test_latency_and_errors_options_parse_to_what_the_instances_are_told() -> None:
    latency = parse_latency("catalog:300ms:5s")
    assert latency == Injection(FaultKind.LATENCY, "catalog", 5.0, delay_ms=300.0)
    assert latency.body(6) == {"delay_ms": 300.0, "seconds": 6}
    assert parse_latency("cart:0.25s:4").delay_ms == 250.0
    errors = parse_errors("cart:50%:5s")
    assert (errors.service, errors.error_rate, errors.error_status, errors.seconds) == (
        "cart", 0.5, 503, 5.0,
    )  # fmt: skip
    assert parse_errors("orders:0.2:4s:500").body(4) == {
        "error_rate": 0.2, "error_status": 500, "seconds": 4,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_latency, "catalog:300ms"),  # no duration
        (parse_latency, "catalog:slow:5s"),
        (parse_latency, ":300ms:5s"),
        (parse_latency, "catalog:300ms:0s"),
        (parse_errors, "cart:150%:5s"),
        (parse_errors, "cart:0:5s"),
        (parse_errors, "cart:0.5:5s:200"),  # not an error status
        (parse_errors, "cart:half:5s"),
    ],
)
def test_a_latency_or_errors_option_that_makes_no_sense_is_refused(
    parse: object, text: str
) -> None:
    with pytest.raises(PlanError):
        parse(text)  # type: ignore[operator]


def test_injected_faults_follow_the_others_and_target_every_instance_of_their_service() -> None:
    faults = plan_faults(
        50, kills=1, freeze=2, broker=3, instances=INSTANCES, rng=random.Random(1),
        injections=[parse_latency("catalog:300ms:4s"), parse_errors("cart:50%:4s")],
        services={"cart", "catalog", "orders"},
    )  # fmt: skip
    assert [(f.kind, f.at, f.seconds, f.target) for f in faults[3:]] == [
        (FaultKind.LATENCY, 33.3, 4.0, "catalog"),
        (FaultKind.ERRORS, 41.7, 4.0, "cart"),
    ]
    assert [f.service for f in faults[3:]] == ["catalog", "cart"]
    assert faults[4].describe()["injected"] == {
        "error_rate": 0.5, "error_status": 503, "seconds": 4.0,
    }  # fmt: skip
    assert "injected" not in faults[0].describe()


def test_injected_faults_alone_need_no_instance_to_signal_but_a_known_service() -> None:
    only = plan_faults(
        10, kills=0, freeze=0, broker=0, instances=[], rng=random.Random(1),
        injections=[parse_errors("cart:1:2s")], services={"cart"},
    )  # fmt: skip
    assert [(f.kind, f.target) for f in only] == [(FaultKind.ERRORS, "cart")]
    with pytest.raises(PlanError, match="no such service"):
        plan_faults(
            10, kills=0, freeze=0, broker=0, instances=[], rng=random.Random(1),
            injections=[parse_errors("carts:1:2s")], services={"cart"},
        )  # fmt: skip


def test_the_report_names_what_each_injected_fault_did_and_judges_it_like_the_others() -> None:
    seconds = {
        "GET /api/cart": {"20": [10, 5], "21": [10, 4]},
        "GET /api/catalog/products/{id}": {"20": [40, 0], "21": [40, 1]},
    }
    routes = {
        "GET /api/cart": frozenset({"cart"}),
        "GET /api/catalog/products/{id}": frozenset({"catalog"}),
    }
    fault = Fault(FaultKind.ERRORS, 20, 2, "cart", started=20, ended=22,
                  injection=parse_errors("cart:50%:2s"))  # fmt: skip
    fault.errors, fault.requests, fault.last_error = errors_in_window(seconds, 20, 25)
    fault.elsewhere = traffic_elsewhere(seconds, 20, 25, fault.service, routes)
    assert fault.errors == {"GET /api/cart": 9, "GET /api/catalog/products/{id}": 1}
    assert fault.success_elsewhere == 0.9875
    assert fault.recovered_after == 0.0
    latency = Fault(FaultKind.LATENCY, 10, 2, "catalog", started=10, ended=12,
                    injection=parse_latency("catalog:300ms:2s"))  # fmt: skip
    total = {"requests": 100, "errors": 10, "p50_ms": 20.0, "p99_ms": 400.0}
    text = markdown({
        "date": "2026-11-29T00:00:00+00:00", "settled_after_s": 1.0,
        "load": {"label": "closed loop", "duration_s": 30, "total": total, "routes": {}},
        "faults": [latency.describe(), fault.describe()],
        "audit": {"violations": [], "pending": 0, "orders_by_status": {"SHIPPED": 3}},
        "skipped": [Fault(FaultKind.ERRORS, 25, 2, "orders",
                          injection=parse_errors("orders:1:2s")).describe()],
    })  # fmt: skip
    assert "| latency +300 ms | catalog | 10 s | 2 s |" in text
    assert "before the load's end: errors 100% 503 orders (planned at 25 s)" in text
    assert (
        "| errors 50% 503 | cart | 20 s | 2 s | 100 "
        "| GET /api/cart x9, GET /api/catalog/products/{id} x1 | 98.75% |" in text
    )


def test_kills_on_a_timer_come_every_so_many_seconds_beside_the_spaced_faults() -> None:
    faults = plan_faults(
        20, kills=0, freeze=3, broker=5, instances=INSTANCES, rng=random.Random(1), kill_every=5
    )
    timed = [f for f in faults if f.periodic]
    assert [(f.kind, f.at, f.target) for f in timed] == [
        (FaultKind.KILL, 5.0, ""), (FaultKind.KILL, 10.0, ""), (FaultKind.KILL, 15.0, ""),
    ]  # fmt: skip
    # The spaced faults keep their own spacing, as if the timer were not there.
    assert [(f.kind, f.at) for f in faults if not f.periodic] == [
        (FaultKind.FREEZE, 6.7), (FaultKind.BROKER, 13.3),
    ]  # fmt: skip
    assert [f.at for f in faults] == sorted(f.at for f in faults)
    alone = plan_faults(
        12, kills=0, freeze=0, broker=0, instances=INSTANCES, rng=random.Random(1), kill_every=5
    )
    assert [f.at for f in alone] == [5.0, 10.0]


def test_where_windows_overlap_no_faults_victims_count_against_anothers_isolation() -> None:
    # A cart freeze from 10 to 13 s (window to 20 s, the load's end) while kills on a
    # timer hit catalog at 5 s and 12 s (windows 5-12 and 12-20).
    freeze = Fault(FaultKind.FREEZE, 10, 3, "cart-1", started=10, ended=13)
    first = Fault(FaultKind.KILL, 5, 0, "catalog-1", started=5, ended=5, periodic=True)
    second = Fault(FaultKind.KILL, 12, 0, "catalog-1", started=12, ended=12, periodic=True)
    seconds = {
        "GET /api/cart": {"3": [5, 0], "8": [5, 0], "11": [5, 5], "14": [5, 0]},
        "GET /api/catalog/products/{id}": {"3": [5, 0], "6": [5, 2], "11": [5, 0], "13": [5, 5]},
        "POST /api/identity/token": {"3": [2, 0], "11": [2, 1], "15": [2, 0]},
    }
    routes = {
        "GET /api/cart": frozenset({"cart"}),
        "GET /api/catalog/products/{id}": frozenset({"catalog"}),
        "POST /api/identity/token": frozenset({"identity"}),
    }
    whole = judge([first, freeze, second], seconds, 20.0, routes)
    # The freeze's window: cart's routes are its own, catalog's the kills'; sign-ins count.
    assert freeze.elsewhere == (4, 1)
    assert freeze.errors == {
        "GET /api/cart": 5, "GET /api/catalog/products/{id}": 5, "POST /api/identity/token": 1,
    }  # fmt: skip
    # The first kill's window (5-12): cart counts until the freeze (second 8), not after.
    assert first.elsewhere == (7, 1)
    # The second kill's (12-20): cart is still the freeze's, so only sign-ins count.
    assert second.elsewhere == (2, 0)
    # The whole load: before the first fault everything counts (12), then as above.
    assert whole == (12 + 5 + 2 + 2, 1)
    # Without a timer (nor overlaps), a fault's window runs to the next one's start.
    alone = Fault(FaultKind.FREEZE, 10, 3, "cart-1", started=10, ended=13)
    assert judge([alone], seconds, 20.0, routes) == (22 + 14, 2 + 6)
    assert alone.elsewhere == (14, 6)
