"""The restart schedule for crashed instances."""

from __future__ import annotations

from emporium.launcher.backoff import RestartBackoff


def test_first_restart_is_fast_then_doubles_up_to_the_cap() -> None:
    backoff = RestartBackoff(initial=0.2, factor=2.0, cap=10.0, reset_after=30.0)
    delays = [backoff.next_delay(uptime=0.5) for _ in range(9)]
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0]


def test_an_instance_that_stayed_up_long_enough_starts_the_schedule_over() -> None:
    backoff = RestartBackoff(initial=0.2, cap=10.0, reset_after=30.0)
    for _ in range(5):
        backoff.next_delay(uptime=1.0)
    assert backoff.next_delay(uptime=30.0) == 0.2
    assert backoff.next_delay(uptime=1.0) == 0.4


def test_default_schedule_matches_the_contract() -> None:
    backoff = RestartBackoff()
    assert 0.1 <= backoff.delay_for(1) <= 0.3
    assert backoff.delay_for(100) == 10.0
    assert backoff.reset_after == 30.0
