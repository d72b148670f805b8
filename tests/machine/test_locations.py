"""The location index kept by apply: moves, restore, determinism."""

from __future__ import annotations

from lithair_node.machine.state import StateMachine
from tests.machine.state_helpers import apply_all, ingest_entry


def test_location_index_follows_the_latest_location_and_survives_restore() -> None:
    entries = [
        ingest_entry(2, [{"sensor_id": "a", "timestamp": 1, "location": "north", "t": 1.0},
                         {"sensor_id": "b", "timestamp": 1, "location": "north", "t": 1.0},
                         {"sensor_id": "c", "timestamp": 1, "t": 1.0}]),
        ingest_entry(3, [{"sensor_id": "a", "timestamp": 2, "location": "south", "t": 1.0}]),
        # an older reading naming a location still moves the sensor: apply order decides
        ingest_entry(4, [{"sensor_id": "b", "timestamp": 0, "location": "attic", "t": 1.0}]),
    ]
    state = StateMachine()
    apply_all(state, entries)
    index, locations = state.locations()
    assert index == 4
    assert locations == {"attic": ["b"], "south": ["a"]}
    assert state.sensors_at("north") == [] and state.sensors_at("south") == ["a"]
    restored = StateMachine()
    restored.restore(state.snapshot())
    assert restored.locations() == state.locations()
    assert restored.digest() == state.digest()
    other = StateMachine()
    apply_all(other, entries[:2])
    assert other.digest() != state.digest()


def test_views_and_applied_index_are_taken_together() -> None:
    state = StateMachine()
    state.apply(ingest_entry(7, [{"sensor_id": "a", "timestamp": 1, "t": 1.0}]))
    index, views = state.views(["a", "missing"])
    assert index == 7 == state.applied_index
    assert [v.sensor_id for v in views] == ["a"]
    assert state.sensor_ids_since(0) == ["a"] and state.sensor_ids_since(1) == []
