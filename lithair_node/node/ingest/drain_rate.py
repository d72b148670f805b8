"""How fast this node commits readings: the service rate that admission compares its queue
against (Little's law)."""

from __future__ import annotations

import math
from collections import deque


class DrainRate:
    """Readings committed per second of *busy* time (time with a batch waiting on this node)
    over the commits of the last WINDOW_S seconds. Busy time, not wall time: a node that was
    idle, or has just started, drains as fast as it commits once it has work, so its first
    slow entry after a pause is not read as overload (dividing by the whole window read a
    node that had been busy for one second as draining a fifth of its real rate). Unknown
    (inf) until a commit in the window."""

    WINDOW_S = 5.0

    def __init__(self) -> None:
        self._done: deque[tuple[float, int, float]] = deque()  # (when, readings, busy s)
        self._readings = 0
        self._busy_s = 0.0
        self._mark: float | None = None  # start of the busy time not yet counted

    def busy(self, now: float) -> None:
        """Work arrived at an idle node: busy time counts from now."""
        self._mark = now

    def add(self, now: float, readings: int) -> None:
        """An entry of `readings` committed at `now`."""
        busy_s = max(0.0, now - self._mark) if self._mark is not None else 0.0
        self._mark = now
        self._done.append((now, readings, busy_s))
        self._readings += readings
        self._busy_s += busy_s
        self._trim(now)

    def per_s(self, now: float) -> float:
        self._trim(now)
        if not self._done or self._busy_s <= 0.0:
            return math.inf
        return self._readings / self._busy_s

    def _trim(self, now: float) -> None:
        while self._done and self._done[0][0] < now - self.WINDOW_S:
            _, readings, busy_s = self._done.popleft()
            self._readings -= readings
            self._busy_s -= busy_s
        if not self._done:
            self._busy_s = 0.0  # no float drift survives an empty window
