"""The bridge from the engine to the writer: a sealed Segment (machine/engine/segment.py) as
a ColdBatch, so the leader can tier whole segments (the unit `tier_after` would move).

A segment holds sensor and metric numbers; the names come from the engine's numberings.
The location written is the sensor's location when the segment is tiered: the engine keeps
one location per sensor, not one per reading.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.segment import Segment
from lithair_node.node.coldtier.writer import ColdBatch


def batch_of_segment(segment: Segment, sensor_names: Sequence[str], locations: Sequence[str | None],
                     metric_names: Sequence[str]) -> ColdBatch:
    """The segment's readings; `locations` per sensor number, like `sensor_names`."""
    sensor = np.repeat(segment.sensors, np.diff(segment.starts))
    ts = segment.ts_between(0, segment.rows)
    metrics = {metric_names[m]: segment.values_between(m, 0, segment.rows)
               for m in sorted(segment.columns)}
    return ColdBatch(sensor, ts, sensor_names, locations, metrics)


def batch_of_engine_segment(engine: Engine, segment: Segment) -> ColdBatch:
    """batch_of_segment with the engine's names (call it under the state lock: the
    numberings grow on apply)."""
    names = list(engine.sensors.names)
    location_names = engine.locations.names
    locations = [location_names[n] if n >= 0 else None for n in engine.location[: len(names)].tolist()]
    return batch_of_segment(segment, names, locations, list(engine.metrics.names))
