"""Reads of one sensor: chunked range scans, pages, statistics, summaries.

Every function takes an immutable SensorView (machine/engine/sensor_view.py) and reads the
engine's sealed segments (each located by its per-sensor row range and two binary searches)
and hot buffer through engine/reads.py: never a scan of the whole series.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import repeat
from typing import Any

import numpy as np

from lithair_node.machine import stats
from lithair_node.machine.engine import reads, summaries
from lithair_node.machine.engine.sensor_view import SensorView
from lithair_node.node.queries import cold_reads

CHUNK_ROWS = 65_536


def iter_chunks(view: SensorView, start_us: int, end_us: int,
                rows: int = CHUNK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The readings with start_us <= ts < end_us in timestamp order, as (ts, values) chunks
    of at most `rows` readings each (values: one row per view.metric_ids). Readings moved
    to the cold tier come first (cold_reads.py; those chunks may be longer)."""
    hot = ((ts, values) for _, ts, values in reads.chunks(view.engine, view.sensor, start_us, end_us, rows))
    yield from cold_reads.with_cold(view, start_us, end_us, hot)


def iter_parts(view: SensorView, start_us: int, end_us: int,
               rows: int = CHUNK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The same readings as iter_chunks, for reductions that ignore order: one part per
    segment holding the sensor in range, then the hot buffer's, each cut in `rows`; the
    cold tier's first, one part per day (cold_reads.py)."""
    yield from cold_reads.cold_parts(view, start_us, end_us)
    for ts, values in reads.parts(view.engine, view.sensor, view.metric_array(), start_us, end_us):
        for pos in range(0, ts.shape[0], rows):
            yield ts[pos : pos + rows], values[:, pos : pos + rows]


def page(view: SensorView, start_us: int, end_us: int, limit: int,
         rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Up to `limit` readings from start_us on, in timestamp order, keeping metric `rows`
    (None: all) and skipping readings that have none of them. Returns (ts, values,
    next_start), next_start being None when nothing is left before end_us."""
    kept_ts: list[np.ndarray] = []
    kept_values: list[np.ndarray] = []
    have = 0
    # A page costs O(log n + limit) when every reading carries a wanted metric; a sparse
    # metric makes it scan further, chunk by chunk, never the whole range up front.
    for ts, values in iter_chunks(view, start_us, end_us, rows=max(limit + 1, 1024)):
        if rows is not None:
            values = values[rows]
            present = ~np.isnan(values).all(axis=0)
            if not present.all():
                ts, values = ts[present], values[:, present]
        kept_ts.append(ts)
        kept_values.append(values)
        have += ts.shape[0]
        if have > limit:
            break
    width = len(view.metric_ids) if rows is None else rows.shape[0]
    if not kept_ts:
        return np.empty(0, dtype=np.int64), np.empty((width, 0)), None
    ts = np.concatenate(kept_ts)
    values = np.concatenate(kept_values, axis=1)
    if ts.shape[0] > limit:
        return ts[:limit], values[:, :limit], int(ts[limit])
    return ts, values, None


def range_stats(view: SensorView, start_us: int, end_us: int) -> np.ndarray:
    """count/mean/m2/min/max per metric row over [start_us, end_us): shape (5, rows).
    Merged part by part (stats.merge), so memory stays bounded on long ranges; a segment
    run wholly in range merges its seal-time summary instead (the same partials, bit for
    bit: engine/summaries.py), so a long range decodes only its ends and the hot rows."""
    partials = stats.empty(len(view.metric_ids))
    for _, values in cold_reads.cold_parts(view, start_us, end_us):
        partials = stats.merge(partials, values_stats(values))
    for part in reads.summarized_parts(view.engine, view.sensor, view.metric_array(), start_us,
                                       end_us, CHUNK_ROWS):
        partials = stats.merge(partials, part if isinstance(part, np.ndarray) else values_stats(part[1]))
    return partials


def values_stats(values: np.ndarray) -> np.ndarray:
    """count/mean/m2/min/max of each row of `values` (NaN = absent), two-pass for accuracy:
    each row reduced alone over its present values (summaries.values_partial), so a row's
    partial never depends on the others' gaps and equals a segment's run summary."""
    if not values.shape[0]:
        return stats.empty(0)
    # Every row's present values, row after row, reduced as runs in one run_partials call
    # (a run's partial depends on its values and length only: bit for bit each row's own
    # values_partial, without ~10 numpy calls a row and segment).
    present = ~np.isnan(values)
    counts = present.sum(axis=1)
    out = stats.empty(values.shape[0])
    held = np.flatnonzero(counts)
    if held.shape[0]:
        starts = np.concatenate(([0], np.cumsum(counts[held])[:-1]))
        out[:, held] = summaries.run_partials(np.ascontiguousarray(values[present]), starts)
    return out


def describe_stats(stats: np.ndarray, names: list[str]) -> dict[str, dict[str, Any]]:
    """{metric: {count, min, max, mean, stddev}}; stddev is the sample one (n - 1), null
    below two readings. Metrics with no reading in range are left out. Where the sum of
    squares overflowed float64 (values spread over more than ~1e154), stddev is null and
    `overflow` lists it."""
    out: dict[str, dict[str, Any]] = {}
    for row, name in enumerate(names):
        count, mean, m2, low, high = (float(v) for v in stats[:, row])
        if count <= 0:
            continue
        described: dict[str, Any] = {"count": int(count), "min": low, "max": high, "mean": mean,
                                     "stddev": None}
        if count > 1:
            stddev = math.sqrt(max(m2, 0.0) / (count - 1))
            if math.isfinite(stddev):
                described["stddev"] = stddev
            else:
                described["overflow"] = ["stddev"]
        out[name] = described
    return dict(sorted(out.items()))


def stored_metrics(view: SensorView, names: list[str]) -> list[str]:
    """The view's metric names, sorted (a sensor has a cell only for the metrics it holds
    a value of)."""
    return sorted(names[m] for m in view.metric_ids)


def count_between(view: SensorView, start_us: int, end_us: int) -> int:
    """How many readings fall in [start_us, end_us)."""
    return reads.count_between(view.engine, view.sensor, start_us, end_us) \
        + sum(int(ts.shape[0]) for ts, _ in cold_reads.cold_parts(view, start_us, end_us))


def first_ts(view: SensorView) -> int | None:
    return reads.first_ts(view.engine, view.sensor)


def last_ts(view: SensorView) -> int | None:
    return None if view.latest is None else view.latest[0]


def latest_values(view: SensorView) -> tuple[int, dict[str, float]] | None:
    """(timestamp, {metric: value}) of the newest reading (read under the lock, O(1))."""
    return view.latest


def format_timestamps(ts: np.ndarray) -> list[str]:
    """RFC 3339 UTC with microseconds, vectorised (same text as timestamps.format_timestamp)."""
    if ts.shape[0] == 0:
        return []
    # timezone="UTC" writes the "Z" itself: no Python pass over the strings
    return np.datetime_as_string(ts.astype("datetime64[us]"), unit="us", timezone="UTC").tolist()


def rows_as_dicts(ts: np.ndarray, values: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """One JSON object per reading; absent metrics are left out."""
    stamps = format_timestamps(ts)
    if ts.shape[0] and values.shape[0] != len(names):
        raise ValueError(f"{values.shape[0]} value rows for {len(names)} names")
    columns = values.T.tolist()
    # dict(zip()) builds a row in C; only rows missing a value need the filtering loop
    # (this was half of a 1,000-reading range read).
    gap_of = np.isnan(values).any(axis=0) if values.shape[0] else np.zeros(len(columns), bool)
    if not gap_of.any():  # every row whole: its values dicts built by map() in C, ~25% less
        inner = map(dict, map(zip, repeat(names), columns))
        return [{"timestamp": stamp, "timestamp_us": micros, "values": row}
                for stamp, micros, row in zip(stamps, ts.tolist(), inner, strict=True)]
    gaps = gap_of.tolist()
    return [{"timestamp": stamp, "timestamp_us": micros,
             "values": {n: v for n, v in zip(names, column, strict=True) if v == v} if gap
             else dict(zip(names, column, strict=True))}
            for stamp, micros, column, gap in zip(stamps, ts.tolist(), columns, gaps, strict=True)]
