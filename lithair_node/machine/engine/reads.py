"""Reads over an EngineView (taken under the state lock, used outside it), with the
semantics of node/queries: a sensor's readings in [start, end) in timestamp order across
sealed segments and the hot buffer, pages with cursors, export chunks, first timestamp and
count (statistics and buckets are reduced from parts() by node/queries).
(sensor, timestamp) is unique, so every merge by timestamp is unambiguous."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from lithair_node.machine.engine import summaries
from lithair_node.machine.engine.cells import METRIC_BITS, METRIC_MASK
from lithair_node.machine.engine.pictures import EngineView
from lithair_node.machine.engine.segment import Segment


def metrics_of(view: EngineView, sensor: int) -> np.ndarray:
    """Metric ids the sensor has values of, ascending (from the cell index)."""
    keys = view.cell_keys
    lo, hi = np.searchsorted(keys, (sensor << METRIC_BITS, (sensor + 1) << METRIC_BITS))
    return keys[lo:hi] & METRIC_MASK


def parts(view: EngineView, sensor: int, metric_ids: np.ndarray, start: int, end: int,
          limit: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ts, values (metrics x k)) runs, each in timestamp order: one per segment holding the
    sensor in range, then the hot buffer's. `limit`: at most the first `limit` of each."""
    for segment in view.segments:
        found = _segment_part(segment, sensor, metric_ids, start, end, limit)
        if found is not None:
            yield found
    yield from _hot_part(view, sensor, metric_ids, start, end, limit)


def summarized_parts(view: EngineView, sensor: int, metric_ids: np.ndarray, start: int,
                     end: int, rows: int) -> Iterator[tuple[np.ndarray, np.ndarray] | np.ndarray]:
    """parts() cut in `rows`, except that a segment run of at most `rows` rows wholly in
    range, in a segment keeping summaries, comes as its (5 x metrics) partials (summaries.py:
    the very partials of its decoded values), nothing decoded."""
    for segment in view.segments:
        a, b, first, last = segment.span(sensor)
        if a == b or last < start or first >= end:
            continue
        if start <= first and last < end and b - a <= rows and isinstance(segment, Segment):
            summary = summaries.summary_of(segment.summary, segment.summary_metrics,
                                           segment.sensors, sensor, metric_ids)
            if summary is not None:
                yield summary
                continue
        found = _segment_part(segment, sensor, metric_ids, start, end, None)
        if found is not None:
            yield from _cut(*found, rows)
    for ts, values in _hot_part(view, sensor, metric_ids, start, end, None):
        yield from _cut(ts, values, rows)


def _cut(ts: np.ndarray, values: np.ndarray, rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for pos in range(0, ts.shape[0], rows):
        yield ts[pos : pos + rows], values[:, pos : pos + rows]


def _segment_part(segment: Segment, sensor: int, metric_ids: np.ndarray, start: int, end: int,
                  limit: int | None) -> tuple[np.ndarray, np.ndarray] | None:
    a, b, first, last = segment.span(sensor)
    if a == b or last < start or first >= end:
        return None
    ts = segment.ts_between(a, b)
    lo, hi = (int(i) for i in np.searchsorted(ts, (start, end)))
    if limit is not None:
        hi = min(hi, lo + limit)
    if hi <= lo:
        return None
    values = np.empty((metric_ids.shape[0], hi - lo))
    for row, metric in enumerate(metric_ids.tolist()):
        values[row] = segment.values_between(metric, a + lo, a + hi)
    return ts[lo:hi], values


def _hot_part(view: EngineView, sensor: int, metric_ids: np.ndarray, start: int, end: int,
              limit: int | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    rows = view.hot.rows_of(sensor)
    ts = view.hot.ts[rows]
    inside = (ts >= start) & (ts < end)
    if inside.any():
        rows, ts = rows[inside], ts[inside]
        order = np.argsort(ts)[:limit]  # late readings make arrival order differ from ts order
        row_of_metric = np.full(len(view.metric_names), -1, dtype=np.int64)
        row_of_metric[metric_ids] = np.arange(metric_ids.shape[0])
        yield ts[order], view.hot.dense(rows[order], row_of_metric, metric_ids.shape[0])


def count_between(view: EngineView, sensor: int, start: int, end: int) -> int:
    """How many readings fall in [start, end): a run wholly in range counts by its row range,
    only the others' timestamps are decoded."""
    held = 0
    for segment in view.segments:
        a, b, first, last = segment.span(sensor)
        if a == b or last < start or first >= end:
            continue
        if start <= first and last < end:
            held += b - a
            continue
        lo, hi = np.searchsorted(segment.ts_between(a, b), (start, end)).tolist()
        held += hi - lo
    ts = view.hot.ts[view.hot.rows_of(sensor)]
    return held + int(np.count_nonzero((ts >= start) & (ts < end)))


def readings(view: EngineView, sensor: int, start: int, end: int,
             limit: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(metric ids, ts, values): the first `limit` (None: all) readings in range, in order."""
    metric_ids = metrics_of(view, sensor)
    found = list(parts(view, sensor, metric_ids, start, end, limit))
    if not found:
        return metric_ids, np.empty(0, dtype=np.int64), np.empty((metric_ids.shape[0], 0))
    ts = np.concatenate([t for t, _ in found])
    values = np.concatenate([v for _, v in found], axis=1)
    order = np.argsort(ts, kind="stable")[:limit]
    return metric_ids, ts[order], values[:, order]


def page(view: EngineView, sensor: int, start: int, end: int,
         limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None]:
    """Up to `limit` readings from `start` on and the cursor of the next page (the first
    timestamp not returned; None when nothing is left before `end`)."""
    metric_ids, ts, values = readings(view, sensor, start, end, limit + 1)
    if ts.shape[0] > limit:
        return metric_ids, ts[:limit], values[:, :limit], int(ts[limit])
    return metric_ids, ts, values, None


def chunks(view: EngineView, sensor: int, start: int, end: int,
           rows: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The range as (metric ids, ts, values) chunks of `rows` readings, for exports."""
    cursor: int | None = start
    while cursor is not None:
        metric_ids, ts, values, cursor = page(view, sensor, cursor, end, rows)
        if ts.shape[0]:
            yield metric_ids, ts, values


def first_ts(view: EngineView, sensor: int) -> int | None:
    """The sensor's oldest timestamp: the segments' per-sensor spans, then the hot rows."""
    found = [first for first, last in (s.span(sensor)[2:] for s in view.segments) if last >= first]
    hot = view.hot.ts[view.hot.rows_of(sensor)]
    if hot.shape[0]:
        found.append(int(hot.min()))
    return min(found) if found else None


def count(view: EngineView, sensor: int) -> int:
    """How many readings the sensor holds: its row ranges in the segments plus hot rows."""
    held = sum(b - a for a, b, _, _ in (s.span(sensor) for s in view.segments))
    return held + int(view.hot.rows_of(sensor).shape[0])
