"""A rate limit for the load tools (`lithair inject --rate`, `lithair load --rate`)."""

from __future__ import annotations

import asyncio
import time


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
