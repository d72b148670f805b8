"""The replicated data of one state machine, in one object: StateMachine holds it under
its lock, ingest.py writes readings into it, capture.py copies it out and back."""

from __future__ import annotations

from dataclasses import dataclass, field

from lithair_node.machine.aggregates import CellAggregates
from lithair_node.machine.anomalies import AnomalyDetector
from lithair_node.machine.digest import MASK64, text_hash
from lithair_node.machine.idempotency import KeyTable
from lithair_node.machine.locations import LocationIndex
from lithair_node.machine.series import SensorSeries


@dataclass
class Counters:
    # Field order is part of the snapshot format (the header stores vars(counters)).
    total_readings: int = 0
    duplicate_readings: int = 0
    batches_accepted: int = 0
    duplicate_batches: int = 0
    entries_applied: int = 0
    applied_index: int = 0
    applied_term: int = 0


@dataclass
class Tables:
    counters: Counters = field(default_factory=Counters)
    series: dict[str, SensorSeries] = field(default_factory=dict)  # in creation order
    metric_names: list[str] = field(default_factory=list)  # metric id -> name
    metric_ids: dict[str, int] = field(default_factory=dict)
    metric_hashes: list[int] = field(default_factory=list)  # metric id -> text_hash(name)
    aggregates: CellAggregates = field(default_factory=CellAggregates)
    keys: KeyTable = field(default_factory=KeyTable)
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # raft address -> info
    readings_hash: int = 0  # sum of cells_hash over every stored reading (digest.py)
    locations_hash: int = 0  # sum of text_hash("sensor\0location") over located sensors
    anomalies: AnomalyDetector = field(default_factory=AnomalyDetector)
    location_index: LocationIndex = field(default_factory=LocationIndex)

    def metric_id(self, name: str) -> int:
        metric_id = self.metric_ids.get(name)
        if metric_id is None:
            metric_id = self.metric_ids[name] = len(self.metric_names)
            self.metric_names.append(name)
            self.metric_hashes.append(text_hash(name))
        return metric_id

    def new_series(self, sensor_id: str) -> SensorSeries:
        series = SensorSeries(sensor_id, len(self.series), text_hash(sensor_id))
        self.series[sensor_id] = series
        return series

    def set_location(self, series: SensorSeries, location: str) -> None:
        self.location_index.move(series.sensor_id, series.location, location)
        if series.location is not None:
            self.locations_hash -= text_hash(f"{series.sensor_id}\x00{series.location}")
        series.location = location
        self.locations_hash = (
            self.locations_hash + text_hash(f"{series.sensor_id}\x00{location}")
        ) & MASK64
