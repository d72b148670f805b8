"""Per-sensor run summaries of a sealed segment: for each metric, the partial statistics
(stats.py: count, mean, M2, min, max) of the sensor's values in the segment, computed at seal
time, so a range statistic that covers the sensor's whole run there decodes nothing.

One function (`run_partials`) reduces runs both at seal time (every run of a column at once)
and at query time (a decoded part: one run), over the same contiguous present values, in the
same order: the summary is the decode path's partial bit for bit (reduceat of a run depends
on the run's values and length only). Summaries are derived data: a function of the
segment's rows, identical on every node, held in memory only (segment.encode leaves them
out); a segment without them (compaction's output, a restored one) is read by decoding,
with the same answers.
"""

from __future__ import annotations

import numpy as np

from lithair_node.machine import stats

# A segment keeps summaries only while they cost at most this per row (40 B per sensor and
# metric): long runs, whose reads decode whole blocks, pay for them; short runs (100K
# sensors: ~5 rows each) would cost 32 B per reading. 1K sensors x 4 metrics: 0.31 B.
MAX_BYTES_PER_ROW = 0.5


def run_partials(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(5, runs) partials of the non-empty runs of x (1-D, contiguous, no NaN) that begin at
    `starts` (ascending, the last run ending at x's end)."""
    count = np.diff(np.append(starts, x.shape[0])).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        low, high = np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)
        mean = stats.rescued_means(np.add.reduceat(x, starts) / count, count, low, high,
                                   lambda scale: np.add.reduceat(x * scale, starts))
        spread = np.repeat(mean, count.astype(np.int64))  # then x - mean, squared, in place
        np.subtract(x, spread, out=spread)
        np.multiply(spread, spread, out=spread)
        m2 = np.add.reduceat(spread, starts)
    return np.vstack((count, mean, m2, low, high))


def values_partial(x: np.ndarray) -> np.ndarray:
    """(5,) partial of one decoded run's values (NaN = absent): run_partials of the present
    ones, or the empty partial."""
    present = x[~np.isnan(x)]
    if not present.shape[0]:
        return stats.empty(1)[:, 0]
    return run_partials(np.ascontiguousarray(present), np.zeros(1, dtype=np.int64))[:, 0]


def worth_it(metrics: int, runs: int, rows: int) -> bool:
    """Whether summaries of `metrics` over `runs` sensor runs of `rows` rows are kept."""
    return runs > 0 and 40 * metrics * runs <= MAX_BYTES_PER_ROW * rows


def summarize(dense: np.ndarray, starts: np.ndarray) -> np.ndarray | None:
    """(5, metrics, sensors) partials of each (metric row of `dense`, sensor run): `dense` is
    (metrics x rows) in (sensor, ts) order, NaN absent; `starts` the runs' first rows plus
    the end. None where runs are too short to be worth it."""
    runs = starts.shape[0] - 1
    if not worth_it(dense.shape[0], runs, dense.shape[1]):
        return None
    out = np.empty((5, dense.shape[0], runs))
    for row, column in enumerate(dense):
        present = ~np.isnan(column)
        if present.all():
            out[:, row] = run_partials(np.ascontiguousarray(column), starts[:-1])
            continue
        at = np.concatenate(([0], np.cumsum(present)))[starts]  # run bounds among the present
        held = np.flatnonzero(np.diff(at) > 0)
        out[:, row] = stats.empty(runs)
        if held.shape[0]:
            out[:, row, held] = run_partials(np.ascontiguousarray(column[present]), at[held])
    return out


def line_partials(line: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(5, runs) partials of one metric's line (rows in (sensor, ts) order, NaN absent):
    a row of what summarize gives, for callers holding one metric's line at a time (a
    merge, a restored segment's rebuild) once worth_it said yes for all of them."""
    found = summarize(line[None], starts)
    assert found is not None  # worth_it for every metric: for one
    return found[:, 0]


def summary_of(summary: np.ndarray | None, held: np.ndarray | None, sensors: np.ndarray,
               sensor: int, metric_ids: np.ndarray) -> np.ndarray | None:
    """(5, len(metric_ids)) partials of the sensor's whole run in a segment (sensors, its
    summary and summary metrics `held`; a metric not held there: the empty partial), or
    None without summaries."""
    if summary is None or held is None:
        return None
    i = int(np.searchsorted(sensors, sensor))
    if i == sensors.shape[0] or sensors[i] != sensor:
        return None
    at = np.minimum(np.searchsorted(held, metric_ids), max(held.shape[0] - 1, 0))
    found = held[at] == metric_ids if held.shape[0] else np.zeros(metric_ids.shape[0], bool)
    out = stats.empty(metric_ids.shape[0])
    out[:, found] = summary[:, at[found], i]
    return out
