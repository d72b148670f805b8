"""One sensor as the queries see it: the engine's immutable picture plus what was read of
the sensor under the state lock (its number, metrics and cells, location, latest reading)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lithair_node.machine.engine import point_reads, reads
from lithair_node.machine.engine.engine import Engine, EngineView


@dataclass(frozen=True, slots=True)
class SensorView:
    engine: EngineView
    sensor: int  # the sensor's number
    sensor_id: str
    location: str | None
    metric_ids: tuple[int, ...]  # ascending: one per cell of the sensor
    cells: tuple[int, ...]  # the running-stats cell of each metric
    latest: tuple[int, dict[str, float]] | None  # (ts, {metric: value}), metrics sorted

    def __len__(self) -> int:
        return reads.count(self.engine, self.sensor)

    def metric_array(self) -> np.ndarray:
        return np.asarray(self.metric_ids, dtype=np.int64)

    def sorted_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Every reading in timestamp order: (ts, values (metrics x readings))."""
        _, ts, values = reads.readings(self.engine, self.sensor, -(2**63), 2**63 - 1)
        return ts, values


def sensor_view(engine: Engine, picture: EngineView, sensor_id: str) -> SensorView | None:
    """Taken under the state lock (O(metrics of the sensor)); None for an unknown sensor."""
    sensor = engine.sensors.get(sensor_id)
    if sensor < 0:
        return None
    metric_ids, cells = engine.cells.metrics_of(sensor)
    location = int(engine.location[sensor])
    return SensorView(picture, sensor, sensor_id,
                      engine.locations.names[location] if location >= 0 else None,
                      tuple(metric_ids.tolist()), tuple(cells.tolist()),
                      point_reads.latest(engine, sensor_id))
