"""One metric of several sensors over a range, in one pass per segment and one over the hot
buffer (a location's time buckets), instead of one read per sensor.

The answer is what reads.parts() gives sensor after sensor, concatenated: the same parts
(per sensor: one per segment holding it in range, then the hot buffer's), in the same order
and with the same values, so reductions of it are bit-identical to the per-sensor reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lithair_node.machine.engine import regular_runs, row_decode
from lithair_node.machine.engine.pictures import EngineView
from lithair_node.machine.engine.ranges import ranges_to_indices
from lithair_node.machine.engine.segment import Segment, rows_at


@dataclass(frozen=True, slots=True)
class MetricParts:
    ts: np.ndarray  # each part in timestamp order, parts one after the other
    values: np.ndarray  # the metric's value of each reading, NaN = absent
    part: np.ndarray  # per reading: a key, equal within a part, ascending across parts


def _segment_part(segment: Segment, sensors: np.ndarray, metric: int, start: int,
                  end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(sensor position, ts, values) of the sensors' rows in range here, by position."""
    if not segment.sensors.shape[0]:
        return None
    at = np.minimum(np.searchsorted(segment.sensors, sensors), segment.sensors.shape[0] - 1)
    held = ((segment.sensors[at] == sensors) & (segment.max_ts[at] >= start)
            & (segment.min_ts[at] < end))
    position = np.flatnonzero(held)
    if not position.shape[0]:
        return None
    at = at[position]
    a, b = segment.starts[at], segment.starts[at + 1]
    if position.shape[0] <= FEW_RUNS and int((b - a).sum()) >= LONG_RUN * position.shape[0]:
        return _runs(segment, position, a, b, metric, start, end)
    rows = ranges_to_indices(a, b)
    ts = _run_ts(segment, at, a, b, rows)
    inside = (ts >= start) & (ts < end)  # one run per sensor: its ts ascend
    rows, ts = rows[inside], ts[inside]
    of = np.repeat(position, b - a)[inside]
    if not isinstance(segment, Segment):
        return of, ts, rows_at(segment, metric, rows)
    # The runs' rows only (row_decode.py), in one batch, then the range's of them.
    values = row_decode.pieces([(segment, metric, first, last)
                                for first, last in zip(a.tolist(), b.tolist(), strict=True)])
    return of, ts, np.concatenate(values)[inside]


def _run_ts(segment: Segment, at: np.ndarray, a: np.ndarray, b: np.ndarray,
            rows: np.ndarray) -> np.ndarray:
    """The timestamps of `rows` (the runs `at`, [a, b) each): computed for regular runs
    (regular_runs.py), decoded for the others only."""
    if not isinstance(segment, Segment) or segment.regular is None:  # (a part being sealed)
        return rows_at(segment, -1, rows)
    step = regular_runs.steps(segment.regular, segment.starts, segment.min_ts, segment.max_ts, at)
    n = b - a
    ts = np.repeat(segment.min_ts[at], n) + (rows - np.repeat(a, n)) * np.repeat(step, n)
    odd = np.flatnonzero(step < 0)
    if odd.shape[0]:  # the irregular runs' rows, in row order: their runs' ts, decoded
        found = row_decode.pieces([(segment, -1, first, last) for first, last
                                   in zip(a[odd].tolist(), b[odd].tolist(), strict=True)])
        ts[np.repeat(step < 0, n)] = np.concatenate(found)
    return ts


# A few long runs (a location of a few dozen sensors in merged segments) are read run by
# run: slices of their blocks, and only the range's rows of the metric, instead of gathering
# every row through one index (2x the work at 20 sensors x 4,000 rows). Same arrays.
FEW_RUNS = 64
LONG_RUN = 1024


def _runs(segment: Segment, position: np.ndarray, a: np.ndarray, b: np.ndarray, metric: int,
          start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    found_of, found_ts, asked = [], [], []
    for p, first, last in zip(position.tolist(), a.tolist(), b.tolist(), strict=True):
        ts = segment.ts_between(first, last)
        lo, hi = ts.searchsorted((start, end)).tolist()
        if hi > lo:
            found_of.append(np.full(hi - lo, p, dtype=np.int64))
            found_ts.append(ts[lo:hi])
            asked.append((segment, metric, first + lo, first + hi))
    if not found_ts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0)
    return (np.concatenate(found_of), np.concatenate(found_ts),
            np.concatenate(row_decode.pieces(asked)))


def _one_sensor(view: EngineView, sensor: int, metric: int, start: int, end: int) -> MetricParts:
    """metric_parts of one sensor: slices of its row ranges, its runs decoded in one batch
    (row_decode.py), fewer numpy calls."""
    located = row_decode.located(view.segments, sensor, start, end)
    found_ts = [ts for _, _, ts in located]
    found_values = row_decode.pieces([(segment, metric, a, a + ts.shape[0])
                                      for segment, a, ts in located])
    number = {id(segment): i for i, segment in enumerate(view.segments)}
    found_part = [np.full(ts.shape[0], number[id(segment)]) for segment, _, ts in located]
    rows = view.hot.rows_of(sensor)
    ts = view.hot.ts[rows]
    inside = (ts >= start) & (ts < end)
    if inside.any():
        rows, ts = rows[inside], ts[inside]
        order = np.argsort(ts)
        row_of_metric = np.full(len(view.metric_names), -1, dtype=np.int64)
        row_of_metric[metric] = 0
        found_ts.append(ts[order])
        found_values.append(view.hot.dense(rows[order], row_of_metric, 1)[0])
        found_part.append(np.full(order.shape[0], len(view.segments)))
    if not found_ts:
        empty = np.empty(0, dtype=np.int64)
        return MetricParts(empty, np.empty(0), empty)
    if len(found_ts) == 1:
        return MetricParts(found_ts[0], found_values[0], found_part[0])
    return MetricParts(np.concatenate(found_ts), np.concatenate(found_values),
                       np.concatenate(found_part))


def metric_parts(view: EngineView, sensors: np.ndarray, metric: int, start: int,
                 end: int) -> MetricParts:
    """`sensors`: distinct sensor numbers, in the order their parts are wanted."""
    if len(sensors) == 1:
        return _one_sensor(view, int(sensors[0]), metric, start, end)
    sensors = np.asarray(sensors, dtype=np.int64)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    slots = len(view.segments) + 1  # a part's key: sensor position x slots + segment
    for number, segment in enumerate(view.segments):
        got = _segment_part(segment, sensors, metric, start, end)
        if got is not None:
            of, ts, values = got
            found.append((of * slots + number, ts, values))
    rows, of = view.hot.rows_of_many(sensors)  # by sensor number, arrival order
    if rows.shape[0]:
        ts = view.hot.ts[rows]
        inside = (ts >= start) & (ts < end)
        rows, of, ts = rows[inside], of[inside], ts[inside]
        position = np.argsort(sensors)[np.searchsorted(np.sort(sensors), of)]
        order = np.lexsort((ts, position))
        rows, position, ts = rows[order], position[order], ts[order]
        row_of_metric = np.full(len(view.metric_names), -1, dtype=np.int64)
        row_of_metric[metric] = 0
        found.append((position * slots + slots - 1, ts, view.hot.dense(rows, row_of_metric, 1)[0]))
    if not found:
        empty = np.empty(0, dtype=np.int64)
        return MetricParts(empty, np.empty(0), empty)
    key = np.concatenate([k for k, _, _ in found])
    order = np.argsort(key, kind="stable")  # parts sensor after sensor, each kept in ts order
    return MetricParts(np.concatenate([t for _, t, _ in found])[order],
                       np.concatenate([v for _, _, v in found])[order], key[order])
