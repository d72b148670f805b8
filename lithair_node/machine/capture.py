"""The state as a StateView (what a snapshot holds) and back: capture and load."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lithair_node.machine.engine import snapshot as engine_snapshot
from lithair_node.machine.engine.segment import Segment
from lithair_node.machine.engine.snapshot import HotColumns
from lithair_node.machine.lifecycle import codec as lifecycle_codec
from lithair_node.machine.tables import Counters, Tables


@dataclass(frozen=True)
class StateView:
    """Everything a snapshot needs, captured under the lock, safe to use outside it."""

    counters: Counters
    keys: list[list[object]]
    members: dict[str, dict[str, str]]
    engine: bytes  # engine/snapshot.dump_state: bounded by sensors + cells + hot buffer
    segments: tuple[Segment, ...]  # sealed, immutable: shared, never copied
    hashes: dict[str, int] = field(default_factory=dict)
    anomalies: dict[str, Any] = field(default_factory=dict)  # AnomalyDetector.export()
    lifecycle: bytes = b""  # lifecycle/codec.dump; empty: no policy or clock ever applied
    # Set: the hot buffer's columns, kept out of `engine` (whose hot columns are then empty)
    # for a linked snapshot's hot chunk files (hot_chunks.py); full_engine() rejoins them.
    hot: HotColumns | None = None

    def full_engine(self) -> bytes:
        """The whole engine state blob, hot columns included (the inline stream's)."""
        return self.engine if self.hot is None else engine_snapshot.with_hot(self.engine,
                                                                              self.hot)


def capture(tables: Tables) -> StateView:
    """O(sensors + cells + hot buffer + keys); sealed segments are shared."""
    return capture_unpacked(tables)()


def capture_unpacked(tables: Tables, split_hot: bool = False) -> Callable[[], StateView]:
    """What capture() takes under the lock, O(sensors + cells + keys): the hot buffer is
    shared, not copied. The StateView is built by the function returned, outside the lock
    (the snapshot writer packs the engine blob, not the Raft thread). split_hot: the hot
    columns go in StateView.hot, not in the blob (a node's linked snapshot writes them as
    chunk files, only the rows the previous snapshot lacked)."""
    items = engine_snapshot.capture_state(tables.engine)
    hot = None
    if split_hot:
        items, hot = engine_snapshot.split_hot(items)
    rest = {
        "counters": Counters(**vars(tables.counters)),
        "keys": tables.keys.export(),
        "members": {address: dict(info) for address, info in tables.members.items()},
        "segments": tuple(tables.engine.segments),
        "hashes": {"locations": tables.locations_hash},
        "anomalies": tables.anomalies.export(),
        "lifecycle": b"" if lifecycle_codec.is_empty(tables.lifecycle)
        else lifecycle_codec.dump(tables.lifecycle),
    }
    return lambda: StateView(engine=engine_snapshot.pack_state(items), hot=hot, **rest)


def load(view: StateView) -> Tables:
    """Tables holding a captured state (used by restore): O(sensors + cells + hot buffer)."""
    engine = engine_snapshot.load_with(view.engine, view.segments.__getitem__, view.hot)
    tables = Tables(counters=Counters(**vars(view.counters)), engine=engine)
    tables.keys.load(view.keys)
    tables.members = {address: dict(info) for address, info in view.members.items()}
    # The location index is derived from the engine's per-sensor locations.
    names = engine.locations.names
    for sensor_id, location in zip(engine.sensors.names, engine.location.tolist(), strict=True):
        if location >= 0:
            tables.location_index.move(sensor_id, None, names[location])
    tables.anomalies.load(view.anomalies)
    if view.lifecycle:
        tables.lifecycle = lifecycle_codec.load(view.lifecycle, engine)
    # Stored with the snapshot rather than recomputed: restore stays O(sensors).
    tables.locations_hash = view.hashes["locations"]
    return tables
