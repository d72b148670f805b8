"""Time-bucket aggregates (SAMPLE BY / GROUP BY time): one metric, fixed-width buckets
aligned on the Unix epoch, over one sensor or several (a location, or every sensor).

Each sensor's readings in range are already in timestamp order, so its buckets are
contiguous runs reduced with `reduceat`; partial buckets of several sensors are then
combined by stats.combine_by_key. Empty buckets are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from lithair_node.machine import stats
from lithair_node.machine.engine.metric_reads import MetricParts, metric_parts
from lithair_node.machine.engine.sensor_view import SensorView
from lithair_node.node.queries.series_reads import format_timestamps, iter_parts

FUNCTIONS = ("mean", "min", "max", "count", "sum", "stddev")


class BucketPartials:
    """Per sensor, the partials (stats.py) of its non-empty buckets, with their exact sums."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # bucket, partials, sums
        self.sources = 0  # parts folded (add_parts folds many in one entry)

    def add(self, ts: np.ndarray, x: np.ndarray, every_us: int) -> None:
        """Fold one sensor's readings of the metric (ts ascending, NaN = absent)."""
        present = ~np.isnan(x)
        if not present.all():
            ts, x = ts[present], x[present]
        if ts.shape[0] == 0:
            return
        bucket = ts // every_us
        starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
        self._fold(ts, x, bucket, starts)
        self.sources += 1

    def add_parts(self, parts: MetricParts, every_us: int) -> None:
        """Fold many parts at once (metric_reads.py): the same partials, in the same order,
        as add() of each part in turn. A run never crosses a part (reduceat of each run
        sees exactly the values it saw alone)."""
        ts, x, part = parts.ts, parts.values, parts.part
        present = ~np.isnan(x)
        if not present.all():
            ts, x, part = ts[present], x[present], part[present]
        if ts.shape[0] == 0:
            return
        bucket = ts // every_us
        new_part = part[1:] != part[:-1]
        starts = np.flatnonzero(np.concatenate(([True], (bucket[1:] != bucket[:-1]) | new_part)))
        self._fold(ts, x, bucket, starts)
        self.sources += 1 + int(new_part.sum())

    def _fold(self, ts: np.ndarray, x: np.ndarray, bucket: np.ndarray, starts: np.ndarray) -> None:
        count = np.diff(np.append(starts, ts.shape[0])).astype(np.float64)
        low, high = np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.add.reduceat(x, starts)
            mean = stats.rescued_means(total / count, count, low, high,
                                       lambda scale: np.add.reduceat(x * scale, starts))
            spread = x - np.repeat(mean, count.astype(np.int64))
            m2 = np.add.reduceat(spread * spread, starts)
        partials = np.vstack((count, mean, m2, low, high))
        self.parts.append((bucket[starts], partials, total))

    def combine(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(buckets in order, their partials (5 x buckets), their sums)."""
        if not self.parts:
            return np.empty(0, dtype=np.int64), stats.empty(0), np.empty(0)
        if self.sources == 1:  # one part's buckets are distinct already
            return self.parts[0]
        bucket = np.concatenate([b for b, _, _ in self.parts])
        keys, slot = np.unique(bucket, return_inverse=True)
        partials, sums = stats.combine_by_key(np.concatenate([p for _, p, _ in self.parts], axis=1),
                                              slot, keys.shape[0],
                                              totals=np.concatenate([t for _, _, t in self.parts]))
        return keys, partials, sums


def aggregate(series: Iterable[tuple[np.ndarray, np.ndarray]], every_us: int,
              functions: tuple[str, ...]) -> list[dict[str, Any]]:
    """`series`: per sensor, (ts ascending, metric values). One dict per non-empty bucket.
    A sum or stddev beyond float64 is null, and the bucket's `overflow` lists it."""
    partials = BucketPartials()
    for ts, x in series:
        partials.add(ts, x, every_us)
    return bucket_rows(*partials.combine(), every_us, functions)


def aggregate_metric(views: list[SensorView], metric: int, start_us: int, end_us: int,
                     every_us: int, functions: tuple[str, ...]) -> list[dict[str, Any]]:
    """aggregate() of the metric's readings in [start_us, end_us) of `views` (distinct
    sensors of one read, each holding the metric), in that order: one multi-sensor read."""
    partials = BucketPartials()
    sensors = np.fromiter((v.sensor for v in views), np.int64, len(views))
    if np.unique(sensors).shape[0] < sensors.shape[0]:  # a sensor twice: read each in turn
        for v in views:
            row = v.metric_ids.index(metric)
            for ts, values in iter_parts(v, start_us, end_us):
                partials.add(ts, values[row], every_us)
    elif views:
        partials.add_parts(metric_parts(views[0].engine, sensors, metric, start_us, end_us),
                           every_us)
    return bucket_rows(*partials.combine(), every_us, functions)


def bucket_rows(bucket: np.ndarray, combined: np.ndarray, total: np.ndarray, every_us: int,
                functions: tuple[str, ...]) -> list[dict[str, Any]]:
    """The answer's rows from combined bucket partials (also those of a rollup: lifecycle)."""
    count, partial_mean, m2, low, high = combined
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # The exact sum's mean, or the partials' (rescued) one where the sum overflowed.
        mean = np.where(np.isfinite(total), total / np.maximum(count, 1), partial_mean)
        std = np.sqrt(np.maximum(m2, 0.0) / (count - 1))
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
            columns[name] = [None if c < 2 else s for c, s in zip(count.tolist(), std.tolist(),
                                                                  strict=True)]
    overflowed = _overflowed(functions, total, std, count)
    starts = bucket * every_us
    stamps = format_timestamps(starts)
    out = []
    for i, (stamp, start) in enumerate(zip(stamps, starts.tolist(), strict=True)):
        row: dict[str, Any] = {"start": stamp, "start_us": start}
        for name in functions:
            row[name] = columns[name][i]
        if i in overflowed:
            row["overflow"] = overflowed[i]
        out.append(row)
    return out


def _overflowed(functions: tuple[str, ...], total: np.ndarray, std: np.ndarray,
                count: np.ndarray) -> dict[int, list[str]]:
    """Bucket index -> the asked functions whose value is beyond float64 (sent as null)."""
    lost = {"sum": ~np.isfinite(total), "stddev": (count > 1) & ~np.isfinite(std)}
    found: dict[int, list[str]] = {}
    for name in functions:
        if name in lost:
            for i in np.flatnonzero(lost[name]).tolist():
                found.setdefault(i, []).append(name)
    return found
