"""Reads of one sensor's series: chunked range scans, pages, statistics, summaries.

Every function takes an immutable SeriesView (sorted base + sorted late-arrival delta) and
locates a time range with two binary searches per part: cost O(log n + k), never a scan of
the whole series.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from lithair_node.machine import stats
from lithair_node.machine.series import SeriesView, merge_sorted

CHUNK_ROWS = 65_536


def iter_chunks(view: SeriesView, start_us: int, end_us: int,
                rows: int = CHUNK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The readings with start_us <= ts < end_us in timestamp order, as (ts, values) chunks
    of about `rows` readings each (the base is sliced, never copied; late readings falling
    in a chunk's time window are merged into it)."""
    base_ts, delta_ts = view.base_ts, view.delta_ts
    pos, base_stop = (int(i) for i in np.searchsorted(base_ts, (start_us, end_us)))
    dpos, delta_stop = (int(i) for i in np.searchsorted(delta_ts, (start_us, end_us)))
    while pos < base_stop or dpos < delta_stop:
        stop = min(pos + rows, base_stop)
        if stop < base_stop:
            # This chunk's window ends where the next base chunk begins.
            dstop = max(dpos, min(delta_stop, int(np.searchsorted(delta_ts, base_ts[stop]))))
        else:
            dstop = delta_stop
        ts, values = base_ts[pos:stop], view.base_values[:, pos:stop]
        if dstop > dpos:
            ts, values = merge_sorted(ts, values, delta_ts[dpos:dstop], view.delta_values[:, dpos:dstop])
        if ts.shape[0]:
            yield ts, values
        pos, dpos = stop, dstop


def iter_parts(view: SeriesView, start_us: int, end_us: int,
               rows: int = CHUNK_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The same readings as iter_chunks, for reductions that ignore order: base chunks
    (sliced, never copied), then the late readings in range, each part sorted, no merging."""
    b0, b1 = (int(i) for i in np.searchsorted(view.base_ts, (start_us, end_us)))
    for pos in range(b0, b1, rows):
        stop = min(pos + rows, b1)
        yield view.base_ts[pos:stop], view.base_values[:, pos:stop]
    d0, d1 = (int(i) for i in np.searchsorted(view.delta_ts, (start_us, end_us)))
    if d1 > d0:
        yield view.delta_ts[d0:d1], view.delta_values[:, d0:d1]


def page(view: SeriesView, start_us: int, end_us: int, limit: int,
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
    width = view.base_values.shape[0] if rows is None else rows.shape[0]
    if not kept_ts:
        return np.empty(0, dtype=np.int64), np.empty((width, 0)), None
    ts = np.concatenate(kept_ts)
    values = np.concatenate(kept_values, axis=1)
    if ts.shape[0] > limit:
        return ts[:limit], values[:, :limit], int(ts[limit])
    return ts, values, None


def range_stats(view: SeriesView, start_us: int, end_us: int) -> np.ndarray:
    """count/mean/m2/min/max per metric row over [start_us, end_us): shape (5, rows).
    Merged chunk by chunk (stats.merge), so memory stays bounded on long ranges."""
    partials = stats.empty(view.base_values.shape[0])
    for _, values in iter_parts(view, start_us, end_us):
        partials = stats.merge(partials, values_stats(values))
    return partials


def values_stats(values: np.ndarray) -> np.ndarray:
    """count/mean/m2/min/max of each row of `values` (NaN = absent), two-pass for accuracy."""
    n = values.shape[1]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if n and not np.isnan(values).any():  # the usual case: every metric in every reading
            count = np.full(values.shape[0], float(n))
            low, high = values.min(axis=1), values.max(axis=1)
            mean = stats.rescued_means(values.sum(axis=1) / n, count, low, high,
                                       lambda scale: (values * scale).sum(axis=1))
            spread = values - mean[:, None]
            return np.vstack((count, mean, np.einsum("ij,ij->i", spread, spread), low, high))
        present = ~np.isnan(values)
        count = present.sum(axis=1).astype(np.float64)
        filled = np.where(present, values, 0.0)
        low = np.where(present, values, np.inf).min(axis=1, initial=np.inf)
        high = np.where(present, values, -np.inf).max(axis=1, initial=-np.inf)
        mean = stats.rescued_means(np.where(count > 0, filled.sum(axis=1) / count, 0.0), count,
                                   low, high, lambda scale: (filled * scale).sum(axis=1))
        spread = np.where(present, values - mean[:, None], 0.0)
        m2 = (spread * spread).sum(axis=1)
    return np.vstack((count, mean, m2, low, high))


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


def stored_metrics(view: SeriesView, names: list[str], running: np.ndarray | None) -> list[str]:
    """The view's metric names, sorted; with its running aggregates, only those it holds a
    value of (a series keeps a row for every metric of the batches that wrote it)."""
    rows = range(len(view.metric_ids)) if running is None else np.flatnonzero(running[0] > 0)
    return sorted(names[view.metric_ids[row]] for row in rows)


def count_between(view: SeriesView, start_us: int, end_us: int) -> int:
    """How many readings fall in [start_us, end_us): four binary searches."""
    b0, b1 = np.searchsorted(view.base_ts, (start_us, end_us))
    d0, d1 = np.searchsorted(view.delta_ts, (start_us, end_us))
    return int(b1 - b0 + d1 - d0)


def first_ts(view: SeriesView) -> int | None:
    candidates = [int(t[0]) for t in (view.base_ts, view.delta_ts) if t.shape[0]]
    return min(candidates) if candidates else None


def last_ts(view: SeriesView) -> int | None:
    # Every delta reading is older than the newest base one (series.py's invariant).
    return int(view.base_ts[-1]) if view.base_ts.shape[0] else None


def latest_values(view: SeriesView, names: list[str]) -> tuple[int, dict[str, float]] | None:
    """(timestamp, {metric: value}) of the newest reading; `names` maps metric id -> name."""
    if not view.base_ts.shape[0]:
        return None
    column = view.base_values[:, -1].tolist()
    values = {names[view.metric_ids[row]]: v for row, v in enumerate(column) if v == v}
    return int(view.base_ts[-1]), dict(sorted(values.items()))


def format_timestamps(ts: np.ndarray) -> list[str]:
    """RFC 3339 UTC with microseconds, vectorised (same text as timestamps.format_timestamp)."""
    if ts.shape[0] == 0:
        return []
    text = np.datetime_as_string(ts.astype("datetime64[us]"), unit="us")
    return [t + "Z" for t in text.tolist()]


def rows_as_dicts(ts: np.ndarray, values: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    """One JSON object per reading; absent metrics are left out."""
    stamps = format_timestamps(ts)
    out = []
    for stamp, micros, column in zip(stamps, ts.tolist(), values.T.tolist(), strict=True):
        out.append({
            "timestamp": stamp,
            "timestamp_us": micros,
            "values": {name: v for name, v in zip(names, column, strict=True) if v == v},
        })
    return out
