"""Balancer: least outstanding requests, round-robin ties, ejection on a fake clock."""

from __future__ import annotations

from collections import Counter

from emporium.services.gateway.balancer import Balancer
from emporium.services.gateway.registry import Instance


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def healthy(*names: str) -> list[Instance]:
    return [Instance("catalog", name, f"http://{name}", healthy=True) for name in names]


def test_ties_are_broken_round_robin() -> None:
    balancer = Balancer()
    instances = healthy("a", "b", "c")
    picks = Counter(balancer.pick("catalog", instances).name for _ in range(30))  # type: ignore[union-attr]
    assert picks == {"a": 10, "b": 10, "c": 10}


def test_the_instance_with_fewest_requests_in_flight_wins() -> None:
    balancer = Balancer()
    a, b, c = healthy("a", "b", "c")
    a.in_flight, b.in_flight, c.in_flight = 3, 1, 2
    assert all(balancer.pick("catalog", [a, b, c]) is b for _ in range(5))


def test_unhealthy_and_excluded_instances_are_never_picked() -> None:
    balancer = Balancer()
    a, b, c = healthy("a", "b", "c")
    b.healthy = False
    assert {balancer.pick("catalog", [a, b, c], exclude=[a]) for _ in range(6)} == {c}
    c.healthy = False
    assert balancer.pick("catalog", [a, b, c], exclude=[a]) is None
    assert balancer.pick("catalog", []) is None


def test_a_connection_failure_ejects_until_the_ejection_time_passes() -> None:
    clock = FakeClock()
    balancer = Balancer(ejection_seconds=5.0, clock=clock)
    a, b = healthy("a", "b")
    balancer.connection_failed(a)
    assert a.failures == 1
    assert {balancer.pick("catalog", [a, b]) for _ in range(4)} == {b}
    clock.now += 4.9
    assert balancer.pick("catalog", [a]) is None
    clock.now += 0.2
    assert balancer.pick("catalog", [a]) is a


def test_a_later_passing_health_check_ends_a_connection_ejection_early() -> None:
    clock = FakeClock()
    balancer = Balancer(ejection_seconds=5.0, clock=clock)
    (a,) = healthy("a")
    check_sent_before = clock.now - 0.1
    balancer.connection_failed(a)
    balancer.health_checked(a, True, started=check_sent_before)
    assert balancer.pick("catalog", [a]) is None  # that check predates the failure
    clock.now += 1.0
    balancer.health_checked(a, True, started=clock.now)
    assert balancer.pick("catalog", [a]) is a


def test_consecutive_5xx_eject_and_a_success_resets_the_run() -> None:
    clock = FakeClock()
    balancer = Balancer(ejection_seconds=5.0, consecutive_5xx=3, clock=clock)
    (a,) = healthy("a")
    for status in (500, 502, 200, 500, 500):
        balancer.responded(a, status)
    assert balancer.pick("catalog", [a]) is a
    balancer.responded(a, 504)
    assert balancer.pick("catalog", [a]) is None
    balancer.health_checked(a, True, started=clock.now + 1)
    assert balancer.pick("catalog", [a]) is None  # health checks cannot see 5xx
    clock.now += 5.1
    assert balancer.pick("catalog", [a]) is a
    assert a.failures == 5


def test_a_busy_instance_stays_in_rotation_until_several_health_checks_time_out() -> None:
    balancer = Balancer(slow_checks_down=3)
    [busy] = healthy("a")
    for _ in range(2):
        balancer.health_checked(busy, ready=False, started=0.0, slow=True)
        assert busy.healthy, "a late answer under load is not a dead instance"
    balancer.health_checked(busy, ready=False, started=0.0, slow=True)
    assert not busy.healthy
    balancer.health_checked(busy, ready=True, started=0.0)
    assert busy.healthy
    assert busy.slow_checks == 0


def test_a_refused_or_not_ready_health_check_takes_the_instance_out_at_once() -> None:
    balancer = Balancer(slow_checks_down=3)
    [instance] = healthy("a")
    balancer.health_checked(instance, ready=False, started=0.0)
    assert not instance.healthy


def test_503_answers_are_load_shedding_and_never_eject() -> None:
    balancer = Balancer(ejection_seconds=5.0, consecutive_5xx=3, clock=FakeClock())
    (a,) = healthy("a")
    for _ in range(10):
        balancer.responded(a, 503)
    assert balancer.pick("catalog", [a]) is a
    for status in (500, 503, 500, 503, 500):  # nor do they reset a run of real failures
        balancer.responded(a, status)
    assert balancer.pick("catalog", [a]) is None
