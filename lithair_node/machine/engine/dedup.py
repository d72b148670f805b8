"""Which late readings (not newer than their sensor's last timestamp) are already stored.

Readings in order for their sensor never come here. The late ones are checked, all at once,
against the hot buffer's rows of their sensors and, per sealed segment, against the runs of
the sensors whose time span there covers them: a regular run by arithmetic, the others by
a binary search in their decoded timestamps (the segment's whole column for a wide batch,
whole_ts.py; only the runs' blocks for a few runs far apart)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lithair_node.machine.engine import regular_runs
from lithair_node.machine.engine.hot import HotView
from lithair_node.machine.engine.ranges import in_sorted_runs, pairs_in, ranges_to_indices
from lithair_node.machine.engine.sealing import Part, Sealing
from lithair_node.machine.engine.segment import rows_at
from lithair_node.machine.engine.whole_ts import all_ts


def already_stored(sensors: np.ndarray, ts: np.ndarray, hot: HotView,
                   segments: Sequence[Part]) -> np.ndarray:
    # Hot rows inside the late readings' span first (one compare pass), then of their sensors.
    window = np.flatnonzero((hot.ts >= ts.min()) & (hot.ts <= ts.max()))
    candidates = window[np.isin(hot.sensor[window], np.unique(sensors))]
    found = pairs_in(sensors, ts, hot.sensor[candidates].astype(np.int64), hot.ts[candidates])
    for segment in segments:
        if not segment.sensors.shape[0]:
            continue
        at = np.minimum(np.searchsorted(segment.sensors, sensors), segment.sensors.shape[0] - 1)
        covered = ((segment.sensors[at] == sensors) & (segment.min_ts[at] <= ts)
                   & (ts <= segment.max_ts[at]) & ~found)
        hit = np.flatnonzero(covered)
        if hit.shape[0]:
            found[hit] = _stored_in(segment, ts[hit], at[hit])
    return found


def _stored_in(segment: Part, ts: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Which readings, each inside its sensor's time span in `segment` (run `at`), are stored
    there. A regular run (regular_runs.py) holds exactly first + k x step: answered by
    arithmetic. The others are binary-searched in their decoded timestamps, each in its own
    run: no pass over the runs' rows."""
    found = np.zeros(ts.shape[0], dtype=bool)
    irregular = np.ones(ts.shape[0], dtype=bool)
    packed = segment.regular  # None: not built yet, or restored before its run index
    if packed is not None:
        step = regular_runs.steps(packed, segment.starts, segment.min_ts, segment.max_ts, at)
        regular = step >= 0
        # step 0: a one-row run, whose span is its one timestamp
        found[regular] = (ts[regular] - segment.min_ts[at[regular]]) % np.maximum(step[regular], 1) == 0
        irregular = ~regular
    if irregular.any():
        ask = np.flatnonzero(irregular)
        run = at[ask]
        runs = np.unique(run)
        starts, ends = segment.starts[runs], segment.starts[runs + 1]
        first, last = int(starts[0]), int(ends[-1])
        if 4 * int((ends - starts).sum()) >= last - first:
            # Most rows between are wanted (a wide batch): search the runs where they lie in
            # the segment's timestamps, decoded once for the batches that follow.
            values, lo, hi = _timestamps(segment), starts, ends
        else:  # a few runs far apart: only their blocks, the runs laid end to end
            values = rows_at(segment, -1, ranges_to_indices(starts, ends))
            hi = np.cumsum(ends - starts)
            lo = hi - (ends - starts)
        where = np.searchsorted(runs, run)
        found[ask] = in_sorted_runs(values, lo[where], hi[where], ts[ask])
    return found


def _timestamps(segment: Part) -> np.ndarray:
    return segment.all_ts() if isinstance(segment, Sealing) else all_ts(segment)
