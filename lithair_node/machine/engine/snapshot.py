"""The engine's snapshot: a small mutable part plus immutable segment blobs.

    state  = msgpack [FORMAT, seal_rows, sensor ids, metric names, location names,
                      last_ts, location, cell keys, cells, running (5 x cells),
                      latest (ts, value per cell), hot buffer columns,
                      total_readings, readings_hash, segment count]       (arrays: <LE bytes)
    segment blobs: segment.encode(), named by their seal number

A linked snapshot on a node may carry the hot columns outside the blob (machine/
hot_chunks.py: files of rows written once per hot generation): split_hot() empties them in
the items, load_with(..., hot=) puts them back, with_hot() rebuilds the whole blob.

Segments never change once sealed, so an incremental snapshot writes the state (bounded by
sensors + cells + the hot buffer) and only the segments the previous one lacks: on a node,
each segment is a file of its own, named by content (machine/snapshot_segments.py,
node/raft/segment_files.py), and the snapshot file names them.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from lithair_node.machine.engine import run_index
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.segment import Segment
from lithair_node.machine.msgpack_bin import bin_header

FORMAT_VERSION = 1
_HOT = slice(12, 17)  # the hot buffer's columns among the items
_HOT_DTYPES = ("<i4", "<i8", "<i4", "<i4", "<f8")


@dataclass(frozen=True)
class HotColumns:
    """The hot buffer's columns: rows (sensor, ts), triples (row, metric, value). Captured,
    they are views of the buffer's append-only arrays (shared, never written again)."""

    sensor: np.ndarray
    ts: np.ndarray
    row: np.ndarray
    metric: np.ndarray
    value: np.ndarray

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.sensor, self.ts, self.row, self.metric, self.value)

    @property
    def rows(self) -> int:
        return int(self.ts.shape[0])

    @property
    def triples(self) -> int:
        return int(self.value.shape[0])


EMPTY_HOT = HotColumns(*(np.empty(0, dtype=dtype) for dtype in _HOT_DTYPES))


def _a(data: bytes, dtype: str) -> np.ndarray:
    return np.frombuffer(data, dtype=dtype).copy()


def dump_state(engine: Engine) -> bytes:
    return pack_state(capture_state(engine))


# Bytes written between chances for other threads to take the GIL (a 23 MB hot buffer
# packed in one call held it for 30-50 ms: the Raft and HTTP threads waited).
_PIECE = 1 << 20


def capture_state(engine: Engine) -> list[Any]:
    """dump_state's items, arrays unpacked: O(sensors + cells). The mutable arrays are
    copied; the hot buffer's columns are shared (append-only: rows held never change, a
    growth or a seal makes new arrays), so the caller may pack them outside the lock."""
    hot = engine.hot.view()
    latest_ts, latest_value = engine.latest.export(engine.cells.count)
    return [
        FORMAT_VERSION, engine.seal_rows, list(engine.sensors.names), list(engine.metrics.names),
        list(engine.locations.names), _c(engine.last_ts, "<i8"), _c(engine.location, "<i8"),
        _c(engine.cells.keys, "<i8"), _c(engine.cells.cells, "<i8"),
        _c(engine.running.data[:, : engine.running.size], "<f8"),
        _c(latest_ts, "<i8"), _c(latest_value, "<f8"),
        _v(hot.sensor, "<i4"), _v(hot.ts, "<i8"), _v(hot.row, "<i4"), _v(hot.metric, "<i4"),
        _v(hot.value, "<f8"), engine.total_readings, engine.readings_hash, len(engine.segments),
    ]


def pack_state(items: list[Any]) -> bytes:
    """The msgpack bytes packb(items with arrays as their bytes) gives, written piece by
    piece into one buffer (getvalue() does not copy it again)."""
    packer = msgpack.Packer(use_bin_type=True)
    out = io.BytesIO()
    out.write(packer.pack_array_header(len(items)))
    for item in items:
        if not isinstance(item, np.ndarray):
            out.write(packer.pack(item))
            continue
        raw = item.reshape(-1).view(np.uint8)
        out.write(bin_header(raw.shape[0]))
        for start in range(0, raw.shape[0], _PIECE):
            out.write(raw[start : start + _PIECE])
    return out.getvalue()


def split_hot(items: list[Any]) -> tuple[list[Any], HotColumns]:
    """capture_state's items without the hot columns (empty arrays in their place), and
    the columns themselves."""
    hot = HotColumns(*items[_HOT])
    rest = list(items)
    rest[_HOT] = EMPTY_HOT.columns()
    return rest, hot


def with_hot(state: bytes, hot: HotColumns) -> bytes:
    """The whole state blob of a blob split_hot emptied and its hot columns."""
    items = msgpack.unpackb(state)
    if any(items[_HOT]):
        raise ValueError("engine state already holds hot columns")
    items[_HOT] = [_v(column, dtype) for column, dtype in zip(hot.columns(), _HOT_DTYPES,
                                                              strict=True)]
    return pack_state(items)


def _c(array: np.ndarray, dtype: str) -> np.ndarray:
    return np.array(array, dtype=dtype, order="C", copy=True)


def _v(array: np.ndarray, dtype: str) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=dtype)


def new_segments(engine: Engine, have: int) -> dict[int, bytes]:
    """Blobs of the segments sealed since a snapshot that held `have` of them."""
    return {s.number: segments.encode(s) for s in engine.segments[have:]}


def load(state: bytes, blobs: Mapping[int, bytes]) -> Engine:
    return load_with(state, lambda number: segments.decode(blobs[number]))


def load_with(state: bytes, segment: Callable[[int], Segment],
              hot: HotColumns | None = None) -> Engine:
    """The engine of a state blob; `segment(n)` gives sealed segment n (n < the count the
    state records); `hot`: the hot columns of a blob split_hot emptied."""
    (version, seal_rows, sensor_ids, metric_names, location_names, last_ts, location, keys,
     cells, running, latest_ts, latest_value, hot_sensor, hot_ts, hot_row, hot_metric, hot_value,
     total, readings_hash, segment_count) = msgpack.unpackb(state)
    if version != FORMAT_VERSION:
        raise ValueError(f"unsupported engine snapshot format {version!r}")
    blob_hot = (hot_sensor, hot_ts, hot_row, hot_metric, hot_value)
    if hot is not None and any(blob_hot):
        raise ValueError("engine state holds hot columns and hot chunks too")
    engine = Engine(seal_rows)
    engine._sensor_numbers(sensor_ids)  # numbers, per-sensor arrays and hashes, in order
    engine._metric_ids(metric_names)
    engine.locations.add(location_names)
    engine.last_ts, engine.location = _a(last_ts, "<i8"), _a(location, "<i8")
    engine.cells.load(_a(keys, "<i8"), _a(cells, "<i8"))
    engine.running.load(_a(running, "<f8"))
    engine.latest.load(_a(latest_ts, "<i8"), _a(latest_value, "<f8"))
    engine.hot.load_with_room(*(hot.columns() if hot is not None else
                                (_a(c, d) for c, d in zip(blob_hot, _HOT_DTYPES, strict=True))))
    engine.segments = [segment(number) for number in range(segment_count)]
    run_index.rebuild_later(engine.segments)  # blobs hold none: rebuilt off the apply path
    engine.total_readings, engine.readings_hash = total, readings_hash
    return engine
