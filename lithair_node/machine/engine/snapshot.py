"""The engine's snapshot: a small mutable part plus immutable segment blobs.

    state  = msgpack [FORMAT, seal_rows, sensor ids, metric names, location names,
                      last_ts, location, cell keys, cells, running (5 x cells),
                      latest (ts, value per cell), hot buffer columns,
                      total_readings, readings_hash, segment count]       (arrays: <LE bytes)
    segment blobs: segment.encode(), named by their seal number

Segments never change once sealed, so an incremental snapshot writes the state (bounded by
sensors + cells + the hot buffer) and only the segments the previous one lacks: on a node,
each segment is a file of its own, named by content (machine/snapshot_segments.py,
node/raft/segment_files.py), and the snapshot file names them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import msgpack
import numpy as np

from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.segment import Segment

FORMAT_VERSION = 1


def _b(array: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def _a(data: bytes, dtype: str) -> np.ndarray:
    return np.frombuffer(data, dtype=dtype).copy()


def dump_state(engine: Engine) -> bytes:
    hot = engine.hot.view()
    latest_ts, latest_value = engine.latest.export(engine.cells.count)
    return msgpack.packb([
        FORMAT_VERSION, engine.seal_rows, engine.sensors.names, engine.metrics.names,
        engine.locations.names, _b(engine.last_ts, "<i8"), _b(engine.location, "<i8"),
        _b(engine.cells.keys, "<i8"), _b(engine.cells.cells, "<i8"),
        _b(engine.running.data[:, : engine.running.size], "<f8"),
        _b(latest_ts, "<i8"), _b(latest_value, "<f8"),
        _b(hot.sensor, "<i4"), _b(hot.ts, "<i8"), _b(hot.row, "<i4"), _b(hot.metric, "<i4"),
        _b(hot.value, "<f8"), engine.total_readings, engine.readings_hash, len(engine.segments),
    ], use_bin_type=True)


def new_segments(engine: Engine, have: int) -> dict[int, bytes]:
    """Blobs of the segments sealed since a snapshot that held `have` of them."""
    return {s.number: segments.encode(s) for s in engine.segments[have:]}


def load(state: bytes, blobs: Mapping[int, bytes]) -> Engine:
    return load_with(state, lambda number: segments.decode(blobs[number]))


def load_with(state: bytes, segment: Callable[[int], Segment]) -> Engine:
    """The engine of a state blob; `segment(n)` gives sealed segment n (n < the count the
    state records)."""
    (version, seal_rows, sensor_ids, metric_names, location_names, last_ts, location, keys,
     cells, running, latest_ts, latest_value, hot_sensor, hot_ts, hot_row, hot_metric, hot_value,
     total, readings_hash, segment_count) = msgpack.unpackb(state)
    if version != FORMAT_VERSION:
        raise ValueError(f"unsupported engine snapshot format {version!r}")
    engine = Engine(seal_rows)
    engine._sensor_numbers(sensor_ids)  # numbers, per-sensor arrays and hashes, in order
    engine._metric_ids(metric_names)
    engine.locations.add(location_names)
    engine.last_ts, engine.location = _a(last_ts, "<i8"), _a(location, "<i8")
    engine.cells.load(_a(keys, "<i8"), _a(cells, "<i8"))
    engine.running.load(_a(running, "<f8"))
    engine.latest.load(_a(latest_ts, "<i8"), _a(latest_value, "<f8"))
    engine.hot.load(_a(hot_sensor, "<i4"), _a(hot_ts, "<i8"), _a(hot_row, "<i4"),
                    _a(hot_metric, "<i4"), _a(hot_value, "<f8"))
    engine.segments = [segment(number) for number in range(segment_count)]
    engine.total_readings, engine.readings_hash = total, readings_hash
    return engine
