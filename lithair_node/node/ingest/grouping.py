"""Readings (one sensor id, timestamp and value column each) into sensor-grouped columns."""

from __future__ import annotations

import operator
from itertools import compress

import numpy as np

from lithair_node.machine.commands import BatchColumns


def group_by_sensor(
    sensor_of: list[str],
    ts: np.ndarray,
    locations: dict[str, str] | list[str],
    names: list[str],
    values: np.ndarray,
) -> BatchColumns:
    """Group readings by sensor (sensors sorted), sort each group by timestamp and drop
    repeats of (sensor, timestamp) within the batch. `locations`: by sensor, or each
    reading's (every reading gives one); the last one a sensor's readings give wins."""
    n = len(sensor_of)
    sensors, group, positions = _by_sensor(sensor_of)
    # lexsort is stable and positions ascend within a sensor: among equal (sensor, ts) the
    # first in the request comes first and is the one kept ("first write wins").
    order = positions[np.lexsort((ts[positions], group))]
    ts, values = ts[order], values[:, order]
    keep = np.ones(n, dtype=bool)
    keep[1:] = (group[1:] != group[:-1]) | (ts[1:] != ts[:-1])
    duplicates = n - int(keep.sum())
    if type(locations) is list:
        # Each sensor's last reading in request order: the last of its group in positions.
        last = positions[np.flatnonzero(np.append(group[1:] != group[:-1], True))]
        located: list[str | None] = list(map(locations.__getitem__, last.tolist()))
    else:
        located = list(map(locations.get, sensors))
    if duplicates:
        group, ts, values = group[keep], ts[keep], values[:, keep]
    counts = np.bincount(group, minlength=len(sensors)).astype(np.uint32)
    return BatchColumns(
        sensors=sensors,
        counts=counts,
        locations=located,
        ts=ts,
        metrics=names,
        values=np.ascontiguousarray(values),
        in_batch_duplicates=duplicates,
    )


def _by_sensor(sensor_of: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(sorted distinct ids, each position's group, reading positions stably sorted by id):
    group[i] is the rank of the id of reading positions[i], so `group` ascends."""
    n = len(sensor_of)
    distinct = set(sensor_of)
    if len(distinct) * FEW_SENSORS > n:
        # Many ids: a stable sort of the positions by id. Clients send a sensor's readings
        # in runs, or round-robin over ids in ascending order, so Timsort finds long runs
        # (~n string comparisons), where ranking each reading through a dict of the sorted
        # ids costs a hash and a lookup per reading (~4x slower at 1,000 distinct ids).
        by_sensor = sorted(range(n), key=sensor_of.__getitem__)
        ids = list(map(sensor_of.__getitem__, by_sensor))
        starts = np.ones(n, dtype=bool)  # first reading of each id, in sorted order
        starts[1:] = np.fromiter(map(operator.ne, ids[1:], ids), dtype=bool, count=n - 1)
        return (list(compress(ids, starts.tolist())), np.cumsum(starts) - 1,
                np.fromiter(by_sensor, dtype=np.intp, count=n))
    # Few ids, each repeated: sorting would compare equal ids ~log n times per reading.
    sensors = sorted(distinct)
    rank = dict(zip(sensors, range(len(sensors)), strict=True))
    ranks = np.fromiter(map(rank.__getitem__, sensor_of), dtype=np.int64, count=n)
    positions = np.argsort(ranks, kind="stable")
    return sensors, ranks[positions], positions


# Readings per distinct id from which ranking through a dict beats sorting the ids.
FEW_SENSORS = 4
