"""Time-bucket aggregates (SAMPLE BY / GROUP BY time): one metric, fixed-width buckets
aligned on the Unix epoch, over one sensor or several (a location, or every sensor).

Each sensor's readings in range are already in timestamp order, so its buckets are
contiguous runs reduced with `reduceat`; partial buckets of several sensors are then
combined with Chan et al.'s formula. Empty buckets are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from lithair_node.node.queries.series_reads import format_timestamps

FUNCTIONS = ("mean", "min", "max", "count", "sum", "stddev")


class Partials:
    """Per bucket: count, sum, m2, min, max (arrays aligned with `bucket`, sorted)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, ts: np.ndarray, x: np.ndarray, every_us: int) -> None:
        """Fold one sensor's readings of the metric (ts ascending, NaN = absent)."""
        present = ~np.isnan(x)
        if not present.all():
            ts, x = ts[present], x[present]
        if ts.shape[0] == 0:
            return
        bucket = ts // every_us
        starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
        count = np.diff(np.append(starts, ts.shape[0])).astype(np.float64)
        total = np.add.reduceat(x, starts)
        spread = x - np.repeat(total / count, count.astype(np.int64))
        m2 = np.add.reduceat(spread * spread, starts)
        self.parts.append((bucket[starts], count, total, m2, np.minimum.reduceat(x, starts),
                           np.maximum.reduceat(x, starts)))

    def combine(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            empty = np.empty(0)
            return np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty
        if len(self.parts) == 1:
            return self.parts[0]
        bucket, count, total, m2, low, high = (np.concatenate(c) for c in zip(*self.parts,
                                                                             strict=True))
        keys, slot = np.unique(bucket, return_inverse=True)
        k = keys.shape[0]
        counts = np.bincount(slot, weights=count, minlength=k)
        sums = np.bincount(slot, weights=total, minlength=k)
        deviation = total / count - (sums / counts)[slot]
        spread = np.bincount(slot, weights=m2 + count * deviation * deviation, minlength=k)
        lows = np.full(k, np.inf)
        highs = np.full(k, -np.inf)
        np.minimum.at(lows, slot, low)
        np.maximum.at(highs, slot, high)
        return keys, counts, sums, spread, lows, highs


def aggregate(series: Iterable[tuple[np.ndarray, np.ndarray]], every_us: int,
              functions: tuple[str, ...]) -> list[dict[str, Any]]:
    """`series`: per sensor, (ts ascending, metric values). One dict per non-empty bucket."""
    partials = Partials()
    for ts, x in series:
        partials.add(ts, x, every_us)
    bucket, count, total, m2, low, high = partials.combine()
    mean = total / np.maximum(count, 1)
    columns: dict[str, list[Any]] = {}
    for name in functions:
        if name == "count":
            columns[name] = count.astype(np.int64).tolist()
        elif name == "mean":
            columns[name] = mean.tolist()
        elif name == "min":
            columns[name] = low.tolist()
        elif name == "max":
            columns[name] = high.tolist()
        elif name == "sum":
            columns[name] = total.tolist()
        elif name == "stddev":
            with np.errstate(invalid="ignore", divide="ignore"):
                std = np.sqrt(np.maximum(m2, 0.0) / (count - 1))
            columns[name] = [None if c < 2 else s for c, s in zip(count.tolist(), std.tolist(),
                                                                  strict=True)]
    starts = bucket * every_us
    stamps = format_timestamps(starts)
    out = []
    for i, (stamp, start) in enumerate(zip(stamps, starts.tolist(), strict=True)):
        row: dict[str, Any] = {"start": stamp, "start_us": start}
        for name in functions:
            row[name] = columns[name][i]
        out.append(row)
    return out
