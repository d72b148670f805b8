"""The one poll loop: returns the condition's value, or times out naming what it waited for."""

import asyncio
import time

import pytest

from lithair_node.polling import wait_until, wait_until_async


def test_returns_the_first_true_value() -> None:
    answers = iter([0, None, "", 7])
    assert wait_until(lambda: next(answers), 5.0, period_s=0.001) == 7


def test_times_out_naming_what_and_asks_at_the_deadline() -> None:
    calls: list[float] = []
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="the thing"):
        wait_until(lambda: calls.append(time.monotonic()), 0.1, period_s=0.02, what="the thing")
    assert time.monotonic() - started >= 0.1
    assert len(calls) >= 3 and calls[-1] - started >= 0.09


def test_async_variant() -> None:
    answers = iter([False, False, True])
    assert asyncio.run(wait_until_async(lambda: next(answers), 5.0, period_s=0.001)) is True
    with pytest.raises(TimeoutError, match="never"):
        asyncio.run(wait_until_async(lambda: False, 0.05, what="never"))
