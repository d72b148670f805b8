"""The replicated data of one state machine, in one object: StateMachine holds it under
its lock, ingest.py writes readings into it, capture.py copies it out and back."""

from __future__ import annotations

from dataclasses import dataclass, field

from lithair_node.machine.anomalies import AnomalyDetector
from lithair_node.machine.digest import MASK64, text_hash
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.idempotency import KeyTable
from lithair_node.machine.lifecycle.manager import Lifecycle
from lithair_node.machine.locations import LocationIndex


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
    engine: Engine = field(default_factory=Engine)  # readings, statistics, readings hash
    keys: KeyTable = field(default_factory=KeyTable)
    members: dict[str, dict[str, str]] = field(default_factory=dict)  # raft address -> info
    locations_hash: int = 0  # sum of text_hash("sensor\0location") over located sensors
    anomalies: AnomalyDetector = field(default_factory=AnomalyDetector)
    location_index: LocationIndex = field(default_factory=LocationIndex)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)  # retention policy, clock, rollups

    def move(self, sensor_id: str, before: str | None, location: str) -> None:
        """Record that apply gave `sensor_id` a new location (the index and its hash)."""
        self.location_index.move(sensor_id, before, location)
        if before is not None:
            self.locations_hash -= text_hash(f"{sensor_id}\x00{before}")
        self.locations_hash = (self.locations_hash + text_hash(f"{sensor_id}\x00{location}")) & MASK64
