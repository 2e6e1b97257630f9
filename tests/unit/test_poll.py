"""The polling helper returns the first good value, and its timeout says what it last saw."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests._poll import eventually, eventually_async


def counter(values: list[int]) -> Callable[[], int]:
    seen: Iterator[int] = iter(values)
    return lambda: next(seen)


def test_returns_the_first_value_that_holds() -> None:
    probe = counter([1, 2, 3, 4])
    assert eventually(probe, lambda n: n >= 3, timeout=5, interval=0, message="m") == 3


def test_a_truthy_value_is_enough_without_a_condition() -> None:
    assert eventually(counter([0, 0, 7]), timeout=5, interval=0, message="m") == 7


def test_timeout_fails_with_the_message_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"never ready \(not within 0 s; .*'still-1'"):
        eventually(lambda: "still-1", lambda _: False, timeout=0, interval=0, message="never ready")


def test_an_ignored_exception_is_retried_and_named_on_timeout() -> None:
    def refuses() -> int:
        raise ConnectionError("refused")

    with pytest.raises(AssertionError, match="raised ConnectionError") as failure:
        eventually(refuses, timeout=0.01, interval=0, message="m", ignoring=(ConnectionError,))
    assert isinstance(failure.value.__cause__, ConnectionError)


def test_an_exception_not_ignored_fails_at_once() -> None:
    calls: list[int] = []

    def breaks_a_rule() -> int:
        calls.append(1)
        raise AssertionError("status 500")

    with pytest.raises(AssertionError, match="status 500"):
        eventually(breaks_a_rule, timeout=5, interval=0, message="m")
    assert calls == [1]


async def test_the_async_helper_awaits_its_probe_and_keeps_the_same_rules() -> None:
    values = counter([1, 5])

    async def probe() -> int:
        return values()

    assert await eventually_async(probe, lambda n: n > 2, timeout=5, interval=0, message="m") == 5

    async def stuck() -> str:
        return "pending"

    with pytest.raises(AssertionError, match=r"order 7 \(not within 0 s; .*'pending'"):
        await eventually_async(stuck, lambda _: False, timeout=0, interval=0, message="order 7")
