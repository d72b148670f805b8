import numpy as np
import pytest

from lithair_node.machine.engine import point_reads
from lithair_node.machine.engine.engine import Engine
from tests.machine.engine.builders import make_columns
from tests.machine.engine.feeds import START_US, state_machine_of, synthetic_columns


def _engine_of(batches, seal_rows=1000) -> Engine:
    engine = Engine(seal_rows=seal_rows)
    for columns in batches:
        engine.apply_batch(columns)
    return engine


def test_running_stats_and_readings_hash_equal_the_current_state_machine():
    batches = synthetic_columns(50, 200, 40)
    late = make_columns([("sensor-00003", START_US + 5_000_000, {"temperature": 99.5}, None),
                         ("sensor-00003", START_US - 7, {"humidity": 1.25}, "attic")])
    batches.append(late)
    batches.append(batches[0])  # every reading a duplicate
    engine = _engine_of(batches, seal_rows=1500)
    state = state_machine_of(batches)
    assert engine.total_readings == state.stats()["total_readings"]
    assert engine.readings_hash == state._tables.engine.readings_hash
    for sensor_id in ("sensor-00000", "sensor-00003", "sensor-00049"):
        view = state.read([sensor_id], running=True)
        names, partials = point_reads.running_stats(engine, sensor_id)
        expected = {view.metric_names[m]: view.running[0][:, row]
                    for row, m in enumerate(view.views[0].metric_ids)}
        assert sorted(expected) == sorted(names)
        for column, name in enumerate(names):
            np.testing.assert_allclose(partials[:, column], expected[name], rtol=1e-12)
            assert partials[0, column] == expected[name][0]  # counts exactly


def test_duplicates_and_late_readings_across_segment_boundaries_are_stored_once():
    batches = synthetic_columns(10, 100, 30)
    engine = _engine_of(batches, seal_rows=700)
    assert len(engine.segments) >= 3
    before = engine.total_readings
    for columns in batches[::3]:  # already sealed, some still hot
        stored = engine.apply_batch(columns)
        assert stored.keep is not None and not stored.keep.any()
    assert engine.total_readings == before
    gap = make_columns([("sensor-00001", START_US + 500, {"temperature": 1.0}, None),
                        ("sensor-00001", START_US + 1_000_000, {"temperature": 2.0}, None)])
    stored = engine.apply_batch(gap)  # one new (between two sealed), one stored (sealed)
    assert stored.keep.tolist() == [True, False]
    assert engine.total_readings == before + 1


def test_latest_is_the_newest_reading_whatever_the_arrival_order():
    engine = Engine(seal_rows=3)
    engine.apply_batch(make_columns([("a", 10, {"x": 1.0, "y": 2.0}, "lab")]))
    engine.apply_batch(make_columns([("a", 20, {"x": 3.0}, None), ("b", 5, {"y": 4.0}, None)]))
    engine.apply_batch(make_columns([("a", 15, {"y": 9.0}, None)]))  # late: latest unchanged
    assert point_reads.latest(engine, "a") == (20, {"x": 3.0})
    assert point_reads.latest(engine, "b") == (5, {"y": 4.0})
    assert point_reads.latest(engine, "zzz") is None
    assert engine.locations.names[engine.location[engine.sensors.get("a")]] == "lab"


@pytest.mark.parametrize("sensors", [100_000])
def test_one_hundred_thousand_sensors(sensors):
    batches = synthetic_columns(sensors, 10_000, 25)  # every sensor 2.5 times
    engine = _engine_of(batches, seal_rows=60_000)
    assert engine.total_readings == 250_000 and len(engine.sensors) == sensors
    assert len(engine.segments) == 4
    assert point_reads.latest(engine, "sensor-99999")[0] == START_US + 1_000_000
    assert point_reads.latest(engine, "sensor-49999")[0] == START_US + 2_000_000
    names, partials = point_reads.running_stats(engine, "sensor-00007")
    assert partials[0].tolist() == [3.0] * len(names)


def test_a_batch_reports_the_sensors_it_moves_and_where_from():
    engine = Engine()
    first = engine.apply_batch(make_columns([("a", 1, {"x": 1.0}, "lab"), ("b", 1, {"x": 1.0}, None)]))
    assert first.moved.tolist() == [0] and first.moved_from.tolist() == [-2]
    again = engine.apply_batch(make_columns([("a", 2, {"x": 1.0}, "lab"), ("b", 2, {"x": 1.0}, "hall")]))
    assert again.moved.tolist() == [1]
    moved = engine.apply_batch(make_columns([("a", 3, {"x": 1.0}, "hall")]))
    assert moved.moved.tolist() == [0] and moved.moved_from.tolist() == [engine.locations.get("lab")]
