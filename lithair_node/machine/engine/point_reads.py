"""O(1) reads taken under the state lock: a sensor's latest reading and its running
statistics (no range: the per-cell aggregates)."""

from __future__ import annotations

import numpy as np

from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.latest import NO_TS


def latest(engine: Engine, sensor_id: str) -> tuple[int, dict[str, float]] | None:
    """(timestamp, {metric: value}) of the sensor's newest reading, metrics sorted."""
    sensor = engine.sensors.get(sensor_id)
    if sensor < 0 or engine.last_ts[sensor] == NO_TS:
        return None
    metric_ids, cells = engine.cells.metrics_of(sensor)
    newest, values = engine.latest.of(cells, int(engine.last_ts[sensor]))
    metric_ids = metric_ids[newest]
    names = engine.metrics.names
    found = {names[m]: v for m, v in zip(metric_ids.tolist(), values.tolist(), strict=True)}
    return int(engine.last_ts[sensor]), dict(sorted(found.items()))


def running_stats(engine: Engine, sensor_id: str) -> tuple[list[str], np.ndarray] | None:
    """(metric names ascending by id, their count/mean/m2/min/max (5 x metrics))."""
    sensor = engine.sensors.get(sensor_id)
    if sensor < 0:
        return None
    metric_ids, cells = engine.cells.metrics_of(sensor)
    names = engine.metrics.names
    return [names[m] for m in metric_ids.tolist()], engine.running.export(cells)
