from __future__ import annotations

import random

import pytest

from emporium.chassis.backoff import Backoff


def test_backoff_doubles_from_base_and_is_capped() -> None:
    backoff = Backoff(base=0.5, cap=4.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_survives_huge_attempt_counts() -> None:
    assert Backoff(base=1.0, cap=30.0).delay(10_000) == 30.0


def test_jitter_only_shortens_the_delay() -> None:
    backoff = Backoff(base=1.0, cap=8.0, jitter=0.5)
    rng = random.Random(7)
    for attempt in range(1, 10):
        plain = Backoff(base=1.0, cap=8.0).delay(attempt)
        assert plain / 2 <= backoff.delay(attempt, rng.random) <= plain


def test_distinct_delays_are_the_retry_queue_set() -> None:
    assert Backoff(base=0.05, cap=0.2).delays(5) == [0.05, 0.1, 0.2]


@pytest.mark.parametrize(
    ("base", "cap", "jitter"), [(0.0, 1.0, 0.0), (2.0, 1.0, 0.0), (1.0, 2.0, 1.5)]
)
def test_invalid_backoff_is_refused(base: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError, match=r"backoff|jitter"):
        Backoff(base=base, cap=cap, jitter=jitter)
