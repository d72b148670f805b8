"""Which late readings (not newer than their sensor's last timestamp) are already stored.

Readings in order for their sensor never come here. The late ones are checked, all at once,
against the hot buffer's rows of their sensors and, per sealed segment, against the rows of
the sensors whose time span there covers them: the only blocks decompressed are those."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lithair_node.machine.engine.hot import HotView
from lithair_node.machine.engine.ranges import pairs_in, ranges_to_indices
from lithair_node.machine.engine.segment import Segment


def already_stored(sensors: np.ndarray, ts: np.ndarray, hot: HotView,
                   segments: Sequence[Segment]) -> np.ndarray:
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
        if not covered.any():
            continue
        runs = np.unique(at[covered])
        rows = ranges_to_indices(segment.starts[runs], segment.starts[runs + 1])
        first, last = int(rows[0]), int(rows[-1]) + 1
        rows_ts = segment.ts_between(first, last)[rows - first]
        rows_sensor = np.repeat(segment.sensors[runs], segment.starts[runs + 1] - segment.starts[runs])
        hit = np.flatnonzero(covered)
        found[hit] = pairs_in(sensors[hit], ts[hit], rows_sensor, rows_ts)
    return found
