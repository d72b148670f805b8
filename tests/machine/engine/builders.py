"""Batches built the way validation builds them, and a trivially correct reference store."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lithair_node.machine.commands import COUNT_DTYPE, BatchColumns

Reading = tuple[str, int, dict[str, float], str | None]  # sensor, ts, values, location


def make_columns(readings: list[Reading]) -> BatchColumns:
    """Grouped by sensor (sorted), ascending ts, in-batch repeats dropped (first kept)."""
    ordered = sorted(range(len(readings)), key=lambda i: (readings[i][0], readings[i][1], i))
    kept: list[Reading] = []
    for i in ordered:
        if kept and kept[-1][:2] == readings[i][:2]:
            continue
        kept.append(readings[i])
    sensors = sorted({r[0] for r in kept})
    metrics = sorted({m for r in kept for m in r[2]})
    values = np.full((len(metrics), len(kept)), np.nan)
    for col, (_, _, vals, _) in enumerate(kept):
        for name, v in vals.items():
            values[metrics.index(name), col] = v
    locations = {}
    for sensor, _, _, location in readings:
        if location is not None:
            locations[sensor] = location
    return BatchColumns(
        sensors=sensors,
        counts=np.asarray([sum(1 for r in kept if r[0] == s) for s in sensors], dtype=COUNT_DTYPE),
        locations=[locations.get(s) for s in sensors],
        ts=np.asarray([r[1] for r in kept], dtype=np.int64),
        metrics=metrics,
        values=values,
        in_batch_duplicates=len(readings) - len(kept),
    )


@dataclass
class Reference:
    """sensor -> {ts: {metric: value}}, first write wins."""

    data: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)

    def apply(self, columns: BatchColumns) -> int:
        stored = 0
        sensor_of = np.repeat(np.arange(len(columns.sensors)), columns.counts.astype(np.int64))
        for col, (g, ts) in enumerate(zip(sensor_of.tolist(), columns.ts.tolist(), strict=True)):
            series = self.data.setdefault(columns.sensors[g], {})
            if ts in series:
                continue
            series[ts] = {name: float(columns.values[row, col])
                          for row, name in enumerate(columns.metrics)
                          if not np.isnan(columns.values[row, col])}
            stored += 1
        return stored

    def between(self, sensor: str, start: int, end: int) -> list[tuple[int, dict[str, float]]]:
        series = self.data.get(sensor, {})
        return [(ts, series[ts]) for ts in sorted(series) if start <= ts < end]

    def latest(self, sensor: str) -> tuple[int, dict[str, float]] | None:
        series = self.data.get(sensor)
        if not series:
            return None
        ts = max(series)
        return ts, dict(sorted(series[ts].items()))
