"""Waiting for a condition with a deadline: the one poll loop of the code base (the lab's
drills and watchers, the node's membership changes, the CLI), blocking or async."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout_s: float, *, period_s: float = 0.05,
               what: str = "condition") -> T:
    """Call `condition` every `period_s` until it returns something true, and return that.
    TimeoutError naming `what` once `timeout_s` has passed (the condition is always asked
    at least once, and once more at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        time.sleep(_pause(deadline, period_s, timeout_s, what))
    return value


async def wait_until_async(condition: Callable[[], T], timeout_s: float, *,
                           period_s: float = 0.02, what: str = "condition") -> T:
    """wait_until for the event loop: sleeps with asyncio.sleep between calls."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        await asyncio.sleep(_pause(deadline, period_s, timeout_s, what))
    return value


def _pause(deadline: float, period_s: float, timeout_s: float, what: str) -> float:
    """How long to sleep before asking again; TimeoutError when the deadline has passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError(f"{what}: not reached within {timeout_s:g} s")
    return min(period_s, remaining)
