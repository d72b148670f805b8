"""Timing for the load tools (`lithair inject`, `lithair load`): a rate limit, progress."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol, TypeVar


class Pacer:
    """At most `rate` readings per second. Time lost (a slow start, a failover, a stalled
    process) is not made up by a burst: the schedule never lags the clock by more than the
    request being sent, like a token bucket that holds one request."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._start = time.monotonic()
        self._sent = 0

    def restart(self) -> None:
        """Count from now (call when sending really begins)."""
        self._start, self._sent = time.monotonic(), 0

    async def wait(self, readings: int) -> None:
        """Return when `readings` more may be sent."""
        now = time.monotonic()
        due = self._start + self._sent / self.rate
        slack = readings / self.rate
        if due < now - slack:
            self._start += now - slack - due
            due = now - slack
        self._sent += readings
        if due > now:
            await asyncio.sleep(due - now)


class _Timed(Protocol):
    started_at: float
    elapsed_s: float


R = TypeVar("R", bound=_Timed)


@contextlib.asynccontextmanager
async def reporting_progress(report: R, on_progress: Callable[[R], None] | None,
                             period_s: float) -> AsyncIterator[None]:
    """While the block runs, refresh `report.elapsed_s` and call `on_progress(report)` every
    `period_s`; once more for elapsed_s when the block ends (normally or not)."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(period_s)
            report.elapsed_s = time.monotonic() - report.started_at
            if on_progress is not None:
                on_progress(report)

    ticker = asyncio.create_task(tick())
    try:
        yield
    finally:
        ticker.cancel()
        report.elapsed_s = time.monotonic() - report.started_at
