"""The state as a StateView (what a snapshot holds) and back: capture and load."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lithair_node.machine.digest import text_hash
from lithair_node.machine.series import SensorSeries, SeriesView
from lithair_node.machine.tables import Counters, Tables


@dataclass(frozen=True)
class StateView:
    """Everything a snapshot needs, captured under the lock, safe to use outside it."""

    counters: Counters
    metric_names: tuple[str, ...]
    keys: list[list[object]]
    members: dict[str, dict[str, str]]
    series: list[SeriesView]
    aggregates: list[np.ndarray]  # per series: stats of its cells, shape (5, rows)
    hashes: dict[str, int] = field(default_factory=dict)
    anomalies: dict[str, Any] = field(default_factory=dict)  # AnomalyDetector.export()


def capture(tables: Tables) -> StateView:
    """O(sensors + keys); the bulk data is shared, never copied (see series.py)."""
    ordered = sorted(tables.series.values(), key=lambda s: s.index)
    return StateView(
        counters=Counters(**vars(tables.counters)),
        metric_names=tuple(tables.metric_names),
        keys=tables.keys.export(),
        members={address: dict(info) for address, info in tables.members.items()},
        series=[s.view() for s in ordered],
        aggregates=[
            tables.aggregates.export(np.asarray(s.cells, dtype=np.int64)) for s in ordered
        ],
        hashes={"readings": tables.readings_hash, "locations": tables.locations_hash},
        anomalies=tables.anomalies.export(),
    )


def load(view: StateView) -> Tables:
    """Tables holding a captured state (used by restore): O(sensors)."""
    tables = Tables(counters=Counters(**vars(view.counters)))
    for name in view.metric_names:
        tables.metric_id(name)
    tables.keys.load(view.keys)
    tables.members = {address: dict(info) for address, info in view.members.items()}
    for index, (series_view, partials) in enumerate(
        zip(view.series, view.aggregates, strict=True)
    ):
        cells = tables.aggregates.load(partials)
        rebuilt = SeriesView(
            series_view.sensor_id, series_view.location, series_view.metric_ids,
            tuple(int(c) for c in cells), series_view.base_ts, series_view.base_values,
            series_view.delta_ts, series_view.delta_values,
        )
        series = SensorSeries.restore(rebuilt, index, text_hash(series_view.sensor_id))
        tables.series[series.sensor_id] = series
        if series.location is not None:
            tables.location_index.move(series.sensor_id, None, series.location)
    tables.anomalies.load(view.anomalies)
    # Stored with the snapshot rather than recomputed: restore stays O(sensors).
    tables.readings_hash = view.hashes["readings"]
    tables.locations_hash = view.hashes["locations"]
    return tables
