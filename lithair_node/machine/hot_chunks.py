"""The hot buffer's rows as files beside a linked snapshot (format 5), written once.

Between two cuts the hot buffer only grows (a cut freezes it and starts a new one), so a
snapshot needs to write only the rows appended since the previous snapshot of the same
buffer: one chunk, rows [a, b) with their triples [c, d). The snapshot names its chunks in
order; loading concatenates them. A chunk file holds

    msgpack [CHUNK_FORMAT, a, b, c, d, ts frame, sensor frame, row frame, metric frame,
             value scale, value frame]

(timestamps and values through engine/codec.py; the int32 columns byte-shuffled + zstd,
rows as deltas), and is named by content like a segment file:
    {"name": "hot-<a, 9 digits>-<32 hex of sha256>.lhot", "rows": [a, b],
     "triples": [c, d], "bytes": n, "crc32c": c}
Its size and CRC32C are checked before it is decoded (snapshot_segments.read_verified).
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Any

import google_crc32c
import msgpack
import numpy as np
import zstandard

from lithair_node.machine.engine import codec
from lithair_node.machine.engine.snapshot import EMPTY_HOT, HotColumns
from lithair_node.machine.snapshot_segments import SnapshotError, read_verified

CHUNK_FORMAT = 1
SUFFIX = ".lhot"
_NAME = re.compile(r"^hot-[0-9]{9,}-[0-9a-f]{32}\.lhot$")  # never a path: no "/" nor ".."
_LEVEL = 1  # the int columns are near-constant planes: level 1 packs them as well as 3


class _Zstd(threading.local):
    """python-zstandard's objects are not for two threads at once (the writer encodes
    while a transfer to a follower decodes)."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=_LEVEL)
        self.decompressor = zstandard.ZstdDecompressor()


_zstd = _Zstd()


def is_chunk_file(name: str) -> bool:
    return bool(_NAME.match(name))


def _ints(x: np.ndarray) -> bytes:
    planes = np.ascontiguousarray(x.astype("<i4").view(np.uint8).reshape(-1, 4).T)
    return bytes(_zstd.compressor.compress(planes.tobytes()))


def _unints(frame: bytes, n: int) -> np.ndarray:
    planes = np.frombuffer(_zstd.decompressor.decompress(frame, max_output_size=4 * n),
                           np.uint8)
    if planes.shape[0] != 4 * n:
        raise ValueError("hot chunk column has the wrong length")
    return np.ascontiguousarray(planes.reshape(4, n).T).view("<i4").reshape(n)


def encode(hot: HotColumns, rows: tuple[int, int], triples: tuple[int, int]
           ) -> tuple[bytes, dict[str, Any]]:
    """The chunk file of rows [a, b) and triples [c, d) of `hot`, and its ref."""
    (a, b), (c, d) = rows, triples
    row = hot.row[c:d].astype(np.int64)
    scale, values = codec.encode_floats(np.ascontiguousarray(hot.value[c:d], dtype=np.float64))
    blob = msgpack.packb([
        CHUNK_FORMAT, a, b, c, d,
        codec.encode_timestamps(hot.ts[a:b].astype(np.int64)), _ints(hot.sensor[a:b]),
        _ints(np.diff(row, prepend=np.int64(a))), _ints(hot.metric[c:d]), scale, values,
    ], use_bin_type=True)
    digest = hashlib.sha256(blob).hexdigest()[:32]
    ref = {"name": f"hot-{a:09d}-{digest}{SUFFIX}", "rows": [a, b], "triples": [c, d],
           "bytes": len(blob), "crc32c": google_crc32c.value(blob)}
    return blob, ref


def decode(blob: bytes, ref: dict[str, Any]) -> HotColumns:
    (version, a, b, c, d, ts, sensor, row, metric, scale, values) = msgpack.unpackb(blob)
    if version != CHUNK_FORMAT or [a, b] != ref["rows"] or [c, d] != ref["triples"]:
        raise ValueError(f"hot chunk {ref['name']} does not hold what its ref says")
    n, k = b - a, d - c
    if k == 0:
        return HotColumns(_unints(sensor, n), codec.decode_timestamps(ts, n),
                          *EMPTY_HOT.columns()[2:])
    return HotColumns(_unints(sensor, n), codec.decode_timestamps(ts, n),
                      (np.cumsum(_unints(row, k).astype(np.int64)) + a).astype("<i4"),
                      _unints(metric, k), codec.decode_floats(scale, values, k))


def check_refs(found: Any) -> list[dict[str, Any]]:
    """The header's hot chunk refs, checked for shape: names are file names, the chunks'
    rows and triples follow each other from 0."""
    if not isinstance(found, list):
        raise SnapshotError("snapshot hot_files is not a list")
    rows = triples = 0
    for position, ref in enumerate(found):
        ok = (isinstance(ref, dict) and isinstance(ref.get("name"), str)
              and is_chunk_file(ref["name"]) and isinstance(ref.get("bytes"), int)
              and isinstance(ref.get("crc32c"), int)
              and isinstance(ref.get("rows"), list) and isinstance(ref.get("triples"), list)
              and ref["rows"][:1] == [rows] and ref["triples"][:1] == [triples]
              and len(ref["rows"]) == 2 and len(ref["triples"]) == 2
              and isinstance(ref["rows"][1], int) and ref["rows"][1] > rows
              and isinstance(ref["triples"][1], int) and ref["triples"][1] >= triples)
        if not ok:
            raise SnapshotError(f"snapshot hot chunk ref {position} is malformed: {ref!r}")
        rows, triples = ref["rows"][1], ref["triples"][1]
    return found


def read(directory: Path, refs: list[dict[str, Any]]) -> HotColumns | None:
    """The hot columns of a snapshot's chunks (None: it names none), each file checked."""
    if not refs:
        return None
    parts = [_read_one(directory, ref) for ref in refs]
    return HotColumns(*(np.concatenate(columns) for columns
                        in zip(*(part.columns() for part in parts), strict=True)))


def _read_one(directory: Path, ref: dict[str, Any]) -> HotColumns:
    blob = read_verified(directory, ref, "hot chunk")
    try:
        return decode(blob, ref)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise SnapshotError(f"snapshot hot chunk file {directory / ref['name']} is corrupt: "
                            f"{exc}") from None
