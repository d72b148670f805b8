"""Snapshot files: our own versioned msgpack stream (never pickle), written atomically.

    header  {"magic": "lithair-snapshot", "format": 1, "raft": {...}, "counters": {...},
             "metric_names": [...], "keys": [...], "members": {...}, "hashes": {...},
             "anomalies": {settings, total, records, cooldown}, "series": N}
    then per series:
        ["series", sensor_id, location, metric_ids, cells_stats(<f8 5 x rows)]
        ["base" | "delta", ts(<i8), values(<f8 rows x k)]   (chunks of at most ~16 MiB)
        ["end"]
    trailer {"end": true, "series": N}

Chunking keeps every msgpack object small whatever the size of a series, and lets the
writer run in a background thread without building the whole file in memory.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import msgpack
import numpy as np

from lithair_node.machine.capture import StateView
from lithair_node.machine.series import SeriesView
from lithair_node.machine.tables import Counters

MAGIC = "lithair-snapshot"
FORMAT_VERSION = 1
CHUNK_BYTES = 16 * 1024 * 1024
_MAX_OBJECT = 4 * CHUNK_BYTES


class SnapshotError(ValueError):
    pass


def dump(view: StateView, raft_meta: dict[str, Any], out: BinaryIO) -> None:
    packer = msgpack.Packer(use_bin_type=True)
    header = {
        "magic": MAGIC,
        "format": FORMAT_VERSION,
        "raft": raft_meta,
        "counters": vars(view.counters),
        "metric_names": list(view.metric_names),
        "keys": view.keys,
        "members": view.members,
        "hashes": view.hashes,
        "anomalies": view.anomalies,
        "series": len(view.series),
    }
    out.write(packer.pack(header))
    for series, stats in zip(view.series, view.aggregates, strict=True):
        out.write(packer.pack([
            "series", series.sensor_id, series.location, list(series.metric_ids),
            np.ascontiguousarray(stats, dtype="<f8").tobytes(),
        ]))
        _dump_columns(packer, out, "base", series.base_ts, series.base_values)
        _dump_columns(packer, out, "delta", series.delta_ts, series.delta_values)
        out.write(packer.pack(["end"]))
    out.write(packer.pack({"end": True, "series": len(view.series)}))


def _dump_columns(
    packer: msgpack.Packer, out: BinaryIO, kind: str, ts: np.ndarray, values: np.ndarray
) -> None:
    """One ["base"|"delta", ts, values] record per chunk. The two arrays are written as
    msgpack bin objects straight from numpy's buffers (header, then the raw bytes) instead
    of through packer.pack: a packed copy is built while holding the GIL, which starved the
    Raft and HTTP threads for tens of ms per snapshot; numpy's copy and the file write
    release it."""
    rows = values.shape[0]
    step = max(1, CHUNK_BYTES // (8 * (rows + 1)))
    for start in range(0, ts.shape[0], step):
        stop = start + step
        ts_chunk = np.ascontiguousarray(ts[start:stop], dtype="<i8")
        values_chunk = np.ascontiguousarray(values[:, start:stop], dtype="<f8")
        out.write(_ARRAY_OF_3 + packer.pack(kind) + _bin_header(ts_chunk.nbytes))
        out.write(memoryview(ts_chunk).cast("B"))
        out.write(_bin_header(values_chunk.nbytes))
        out.write(memoryview(values_chunk).cast("B"))


_ARRAY_OF_3 = b"\x93"  # msgpack fixarray, 3 items


def _bin_header(size: int) -> bytes:
    """msgpack's bin 8/16/32 header for `size` bytes (what Packer.pack(bytes) emits)."""
    if size < 1 << 8:
        return b"\xc4" + size.to_bytes(1, "big")
    if size < 1 << 16:
        return b"\xc5" + size.to_bytes(2, "big")
    return b"\xc6" + size.to_bytes(4, "big")


def load(source: BinaryIO) -> tuple[StateView, dict[str, Any]]:
    unpacker = msgpack.Unpacker(source, raw=False, max_buffer_size=_MAX_OBJECT,
                                strict_map_key=False)
    try:
        header = next(unpacker)
        if not isinstance(header, dict) or header.get("magic") != MAGIC:
            raise SnapshotError("not a Lithair snapshot")
        if header.get("format") != FORMAT_VERSION:
            raise SnapshotError(f"unsupported snapshot format {header.get('format')!r}")
        series: list[SeriesView] = []
        aggregates: list[np.ndarray] = []
        for _ in range(int(header["series"])):
            view, stats = _load_series(unpacker)
            series.append(view)
            aggregates.append(stats)
        trailer = next(unpacker)
    except StopIteration:
        raise SnapshotError("snapshot is truncated") from None
    except (msgpack.UnpackException, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"snapshot is corrupt: {exc}") from None
    if trailer != {"end": True, "series": len(series)}:
        raise SnapshotError("snapshot trailer missing or wrong")
    view = StateView(
        counters=Counters(**header["counters"]),
        metric_names=tuple(header["metric_names"]),
        keys=header["keys"],
        members=header["members"],
        series=series,
        aggregates=aggregates,
        hashes={k: int(v) for k, v in header["hashes"].items()},
        anomalies=header["anomalies"],
    )
    return view, header["raft"]


def _load_series(unpacker: msgpack.Unpacker) -> tuple[SeriesView, np.ndarray]:
    record = next(unpacker)
    if not (isinstance(record, list) and record and record[0] == "series"):
        raise SnapshotError("expected a series record")
    _, sensor_id, location, metric_ids, stats_bytes = record
    rows = len(metric_ids)
    chunks: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"base": [], "delta": []}
    while True:
        part = next(unpacker)
        if part == ["end"]:
            break
        kind, ts_bytes, values_bytes = part
        ts = np.frombuffer(ts_bytes, dtype="<i8")
        chunks[kind].append((ts, np.frombuffer(values_bytes, dtype="<f8").reshape(rows, -1)))
    base_ts, base_values = _concat(chunks["base"], rows)
    delta_ts, delta_values = _concat(chunks["delta"], rows)
    stats = np.frombuffer(stats_bytes, dtype="<f8").reshape(5, rows)
    view = SeriesView(sensor_id, location, tuple(metric_ids), (), base_ts, base_values,
                      delta_ts, delta_values)
    return view, stats


def _concat(parts: list[tuple[np.ndarray, np.ndarray]], rows: int) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty((rows, 0), dtype=np.float64)
    if len(parts) == 1:
        return parts[0]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts], axis=1))


def dump_bytes(view: StateView, raft_meta: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    dump(view, raft_meta, buffer)
    return buffer.getvalue()


def load_bytes(data: bytes) -> tuple[StateView, dict[str, Any]]:
    return load(io.BytesIO(data))


def write_atomic(path: Path, view: StateView, raft_meta: dict[str, Any],
                 replace: Callable[[Path, Path], None] = os.replace) -> int:
    """Write to path.tmp, fsync, rename over path (with `replace`, which may refuse by
    raising); return the size in bytes."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb", buffering=1024 * 1024) as out:
            dump(view, raft_meta, out)
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return size


def read_file(path: Path) -> tuple[StateView, dict[str, Any]]:
    with open(path, "rb", buffering=1024 * 1024) as source:
        return load(source)


def fsync_dir(directory: Path) -> None:
    """A rename is durable only once its directory is (write_atomic, installed snapshots)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
