"""A latency histogram in Prometheus' shape: cumulative bucket counts, count and sum."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from typing import Any

# fdatasync on SSDs takes 0.1-5 ms; a busy or virtualised disk, tens to hundreds.
FSYNC_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class LatencyHistogram:
    """Observed from one thread (the journal writer), read from any."""

    def __init__(self, buckets_s: Sequence[float] = FSYNC_BUCKETS_S) -> None:
        self._bounds = tuple(sorted(buckets_s))
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._counts[bisect.bisect_left(self._bounds, seconds)] += 1
            self._sum += seconds

    def as_dict(self) -> dict[str, Any]:
        """{"buckets": {"0.001": n, ..., "+Inf": count}, "count", "sum"}: JSON for /cluster/status."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, {}
        for bound, count in zip((*map(repr, self._bounds), "+Inf"), counts, strict=True):
            cumulative += count
            buckets[bound] = cumulative
        return {"buckets": buckets, "count": cumulative, "sum": total}

    def prometheus_lines(self, name: str, help_text: str) -> list[str]:
        """The exposition-format lines of this histogram, for /metrics."""
        snapshot = self.as_dict()
        lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        lines += [f'{name}_bucket{{le="{bound}"}} {count}'
                  for bound, count in snapshot["buckets"].items()]
        lines += [f"{name}_sum {snapshot['sum']!r}", f"{name}_count {snapshot['count']}"]
        return lines
