"""O(1) reads taken under the state lock: a sensor's latest reading and its running
statistics (no range: the per-cell aggregates)."""

from __future__ import annotations

import numpy as np

from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.latest import NO_TS


def latest(engine: Engine, sensor_id: str) -> tuple[int, dict[str, float]] | None:
    """(timestamp, {metric: value}) of the sensor's newest reading, metrics sorted."""
    sensor = engine.sensors.get(sensor_id)
    if sensor < 0:
        return None
    return latest_of(engine, sensor, *engine.cells.metrics_of(sensor))


def latest_of(engine: Engine, sensor: int, metric_ids: np.ndarray,
              cells: np.ndarray) -> tuple[int, dict[str, float]] | None:
    """latest() of a sensor number whose (metric ids, cells) the caller already has."""
    last = int(engine.last_ts[sensor])
    if last == NO_TS:
        return None
    newest, values = engine.latest.of(cells, last)
    names = engine.metrics.names
    found = {names[m]: v for m, v in zip(metric_ids[newest].tolist(), values.tolist(), strict=True)}
    return last, dict(sorted(found.items()))


def running_stats(engine: Engine, sensor_id: str) -> tuple[list[str], np.ndarray] | None:
    """(metric names ascending by id, their count/mean/m2/min/max (5 x metrics))."""
    sensor = engine.sensors.get(sensor_id)
    if sensor < 0:
        return None
    metric_ids, cells = engine.cells.metrics_of(sensor)
    names = engine.metrics.names
    return [names[m] for m in metric_ids.tolist()], engine.running.export(cells)
