"""Reads over an EngineView (taken under the state lock, used outside it), with the
semantics of node/queries: a sensor's readings in [start, end) in timestamp order across
sealed segments and the hot buffer, pages with cursors, export chunks, first timestamp and
count (statistics and buckets are reduced from parts() by node/queries).
(sensor, timestamp) is unique, so every merge by timestamp is unambiguous."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from lithair_node.machine.engine import row_decode, summaries
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
    found = row_decode.located(view.segments, sensor, start, end, limit)
    for (_, _, ts), values in zip(found, row_decode.values_of(found, metric_ids), strict=True):
        yield ts, values
    yield from _hot_part(view, sensor, metric_ids, *_hot_rows(view, sensor, start, end, limit))


def summarized_parts(view: EngineView, sensor: int, metric_ids: np.ndarray, start: int,
                     end: int, rows: int) -> Iterator[tuple[np.ndarray, np.ndarray] | np.ndarray]:
    """parts() cut in `rows`, except that a segment run of at most `rows` rows wholly in
    range, in a segment keeping summaries, comes as its (5 x metrics) partials (summaries.py:
    the very partials of its decoded values), nothing decoded. In segment order."""
    order: list[object] = []  # per segment in range: its summary, or the segment to decode
    for segment in view.segments:
        a, b, first, last = segment.span(sensor)
        if a == b or last < start or first >= end:
            continue
        summary = None
        if start <= first and last < end and b - a <= rows and isinstance(segment, Segment):
            summary = summaries.summary_of(segment.summary, segment.summary_metrics,
                                           segment.sensors, sensor, metric_ids)
        order.append(segment if summary is None else summary)
    found = row_decode.located([x for x in order if not isinstance(x, np.ndarray)], sensor,
                               start, end)
    decoded = {id(segment): (ts, values) for (segment, _, ts), values
               in zip(found, row_decode.values_of(found, metric_ids), strict=True)}
    for x in order:
        if isinstance(x, np.ndarray):
            yield x
        elif id(x) in decoded:
            yield from _cut(*decoded[id(x)], rows)
    hot_rows, hot_ts = _hot_rows(view, sensor, start, end, None)
    for ts, values in _hot_part(view, sensor, metric_ids, hot_rows, hot_ts):
        yield from _cut(ts, values, rows)


def _cut(ts: np.ndarray, values: np.ndarray, rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for pos in range(0, ts.shape[0], rows):
        yield ts[pos : pos + rows], values[:, pos : pos + rows]


def _hot_rows(view: EngineView, sensor: int, start: int, end: int,
              limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The sensor's hot rows in range and their ts, in ts order (at most `limit`)."""
    rows = view.hot.rows_of(sensor)
    ts = view.hot.ts[rows]
    inside = (ts >= start) & (ts < end)
    if not inside.any():
        return rows[:0], ts[:0]
    rows, ts = rows[inside], ts[inside]
    order = np.argsort(ts)[:limit]  # late readings make arrival order differ from ts order
    return rows[order], ts[order]


def _hot_part(view: EngineView, sensor: int, metric_ids: np.ndarray, rows: np.ndarray,
              ts: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    if ts.shape[0]:
        row_of_metric = np.full(len(view.metric_names), -1, dtype=np.int64)
        row_of_metric[metric_ids] = np.arange(metric_ids.shape[0])
        yield ts, view.hot.dense(rows, row_of_metric, metric_ids.shape[0])


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
    located = row_decode.located(view.segments, sensor, start, end, limit)
    hot_rows, hot_ts = _hot_rows(view, sensor, start, end, limit)
    if limit is not None:  # only the runs' readings among the first `limit` are decoded
        located, hot_rows, hot_ts = _first(located, hot_rows, hot_ts, limit)
    found = [(ts, values) for (_, _, ts), values
             in zip(located, row_decode.values_of(located, metric_ids), strict=True)]
    found += _hot_part(view, sensor, metric_ids, hot_rows, hot_ts)
    if not found:
        return metric_ids, np.empty(0, dtype=np.int64), np.empty((metric_ids.shape[0], 0))
    ts = np.concatenate([t for t, _ in found])
    values = np.concatenate([v for _, v in found], axis=1)
    order = np.argsort(ts, kind="stable")[:limit]
    return metric_ids, ts[order], values[:, order]


def _first(located: list[row_decode.Located], hot_rows: np.ndarray, hot_ts: np.ndarray,
           limit: int) -> tuple[list[row_decode.Located], np.ndarray, np.ndarray]:
    """The runs cut to the readings among the first `limit` of them all by ts ((sensor, ts)
    is unique: those are the readings at or before the limit-th smallest ts)."""
    every = [ts for _, _, ts in located] + [hot_ts]
    total = sum(ts.shape[0] for ts in every)
    if total <= limit or limit <= 0:
        return located, hot_rows, hot_ts
    cut = np.partition(np.concatenate(every), limit - 1)[limit - 1]
    kept = []
    for segment, a, ts in located:
        hi = int(ts.searchsorted(cut, side="right"))
        if hi:
            kept.append((segment, a, ts[:hi]))
    hi = int(hot_ts.searchsorted(cut, side="right"))
    return kept, hot_rows[:hi], hot_ts[:hi]


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
