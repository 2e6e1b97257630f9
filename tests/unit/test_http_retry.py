"""Which requests are retried and the backoff schedule, with an injected random source."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emporium.chassis.http import NO_RETRIES, RetryPolicy, parse_retry_after


def always(value: float) -> RetryPolicy:
    return RetryPolicy(max_attempts=10, base_delay=0.1, max_delay=1.0, random=lambda: value)


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "get"])
def test_idempotent_methods_are_retried_by_default(method: str) -> None:
    assert RetryPolicy().may_retry(method)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_post_and_patch_are_not_retried_unless_caller_says_idempotent(method: str) -> None:
    assert not RetryPolicy().may_retry(method)
    assert RetryPolicy().may_retry(method, idempotent=True)


def test_caller_can_forbid_retrying_a_get() -> None:
    assert not RetryPolicy().may_retry("GET", idempotent=False)


def test_a_single_attempt_policy_never_retries() -> None:
    assert not NO_RETRIES.may_retry("GET", idempotent=True)


def test_backoff_ceiling_doubles_from_base_until_max_delay() -> None:
    policy = always(0.999999)
    ceilings = [round(policy.backoff(n), 3) for n in range(1, 7)]
    assert ceilings == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_full_jitter_scales_the_ceiling_by_the_random_draw() -> None:
    assert always(0.0).backoff(3) == 0.0
    assert always(0.5).backoff(3) == pytest.approx(0.2)


@given(retry=st.integers(min_value=1, max_value=10_000), draw=st.floats(0.0, 1.0))
def test_backoff_never_exceeds_max_delay(retry: int, draw: float) -> None:
    delay = RetryPolicy(base_delay=0.05, max_delay=1.0, random=lambda: draw).backoff(retry)
    assert 0.0 <= delay <= 1.0


def test_no_retry_once_max_attempts_are_used() -> None:
    policy = RetryPolicy(max_attempts=3, random=lambda: 0.5)
    assert policy.delay_before(1) is not None
    assert policy.delay_before(2) is not None
    assert policy.delay_before(3) is None


def test_small_retry_after_is_honoured_as_a_minimum_wait() -> None:
    policy = RetryPolicy(max_attempts=3, max_retry_after=1.0, random=lambda: 0.0)
    assert policy.delay_before(1, retry_after=0.7) == pytest.approx(0.7)


def test_large_retry_after_ends_the_retries() -> None:
    policy = RetryPolicy(max_attempts=3, max_retry_after=1.0)
    assert policy.delay_before(1, retry_after=30.0) is None


def test_retry_after_parses_delta_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("2", now=now) == 2.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:03 GMT", now=now) == 3.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_delay": -1.0}, {"deadline": 0.0}])
def test_policy_rejects_nonsense_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)
