"""Readings (one sensor id, timestamp and value column each) into sensor-grouped columns."""

from __future__ import annotations

import numpy as np

from lithair_node.machine.commands import BatchColumns


def group_by_sensor(
    sensor_of: list[str],
    ts: np.ndarray,
    locations: dict[str, str],
    names: list[str],
    values: np.ndarray,
) -> BatchColumns:
    """Group readings by sensor (sensors sorted), sort each group by timestamp and drop
    repeats of (sensor, timestamp) within the batch."""
    n = len(sensor_of)
    sensors = sorted(set(sensor_of))
    sensor_rank = dict(zip(sensors, range(len(sensors)), strict=True))
    group = np.fromiter(map(sensor_rank.__getitem__, sensor_of), dtype=np.int64, count=n)
    # lexsort is stable: among equal (sensor, ts) the first in the request comes first and is
    # the one kept, so "first write wins" holds inside a batch too.
    order = np.lexsort((ts, group))
    group, ts, values = group[order], ts[order], values[:, order]
    keep = np.ones(n, dtype=bool)
    keep[1:] = (group[1:] != group[:-1]) | (ts[1:] != ts[:-1])
    duplicates = n - int(keep.sum())
    if duplicates:
        group, ts, values = group[keep], ts[keep], values[:, keep]
    counts = np.bincount(group, minlength=len(sensors)).astype(np.uint32)
    return BatchColumns(
        sensors=sensors,
        counts=counts,
        locations=list(map(locations.get, sensors)),
        ts=ts,
        metrics=names,
        values=np.ascontiguousarray(values),
        in_batch_duplicates=duplicates,
    )
