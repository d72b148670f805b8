"""Tiering the engine's own sealed segments: the cold reads equal the engine's reads."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from lithair_node.machine.engine import reads
from lithair_node.machine.engine.engine import Engine
from lithair_node.node.coldtier.reader import ColdReader
from lithair_node.node.coldtier.segments import batch_of_engine_segment
from lithair_node.node.coldtier.store import open_store
from lithair_node.node.coldtier.writer import write
from tests.machine.engine.builders import make_columns
from tests.machine.engine.feeds import START_US, synthetic_columns


def test_tiered_segments_read_as_the_engine_reads_them(tmp_path: Path) -> None:
    engine = Engine(seal_rows=900)
    batches = synthetic_columns(30, 150, 40)
    batches.append(make_columns([("sensor-00003", START_US - 7, {"humidity": 1.25}, "attic")]))
    for columns in batches:
        engine.apply_batch(columns)
    engine.seal()  # everything sealed: the engine's reads and the tier's cover the same rows
    store = open_store(str(tmp_path))
    files = [f for s in engine.segments for f in write(store, batch_of_engine_segment(engine, s), s.number)]
    assert sum(f.rows for f in files) == engine.total_readings
    view = engine.view()
    reader = ColdReader(store, files)
    names = view.metric_names
    for sensor_id in ("sensor-00000", "sensor-00003", "sensor-00029"):
        number = engine.sensors.get(sensor_id)
        start, end = START_US - 10, START_US + 10**12
        metric_ids, ts, values = reads.readings(view, number, start, end)
        got = reader.readings(sensor_id, start, end, metrics=[names[m] for m in metric_ids.tolist()])
        np.testing.assert_array_equal(got.ts, ts)
        np.testing.assert_array_equal(got.values, values)
    attic = duckdb.execute(f"SELECT count(*) FROM read_parquet('{tmp_path}/**/*.parquet', "
                           "hive_partitioning=true, union_by_name=true) "
                           "WHERE location = 'attic'").fetchone()
    assert attic == (reads.count(view, engine.sensors.get("sensor-00003")),)
