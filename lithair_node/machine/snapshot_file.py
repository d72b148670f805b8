"""Snapshot files: our own versioned msgpack stream (never pickle), written atomically.

    header  {"magic": "lithair-snapshot", "format": 2|3, "raft": {...}, "counters": {...},
             "keys": [...], "members": {...}, "hashes": {...},
             "anomalies": {settings, total, records, cooldown}, "segments": N}
    then    ["engine", pieces] + pieces bin objects   (engine/snapshot.dump_state)
    format 3 only: ["lifecycle", pieces] + pieces      (lifecycle/codec.dump: policy, clock,
            rollups); a state without a lifecycle is still written as format 2, so older
            versions read it, and refuse a format 3 one by its number
    and per sealed segment, in seal order:
            ["segment", number, pieces] + pieces bin objects   (engine/segment.encode)
    trailer {"end": true, "segments": N}

Format 4 (linked, what a node keeps on disk): the same header with "lifecycle": bool and
"segment_files": [ref, ...] (snapshot_segments.py: name, number, bytes, crc32c) in place of
the inline segment records, and the engine record as ["engine_zstd", pieces] (the
state blob zstd-compressed); every sealed segment is a file of its own in SEGMENTS_DIR beside
the snapshot, written once. Formats 2/3 stay the self-contained stream: backups, `lithair
restore` seeds, the transfer to a lagging follower (snapshot_transfer.InlineReader).

Format 5 (linked, written since issue 11's hot chunks): format 4 plus "hot_files": [ref,
...] (hot_chunks.py: rows [a, b) of the hot buffer each, in order). When it names any, the
engine blob's hot columns are empty and the chunks hold them; a node writes, per snapshot,
one chunk of the rows since its previous snapshot of the same hot buffer. Format 4 still
loads (no hot_files: the hot columns are in the blob).

Blobs are cut into bin objects of at most CHUNK_BYTES, so every msgpack object stays small
whatever the size of the state, and the writer runs in a background thread without
building the whole file in memory. Format 1 (per-series records, before the storage
engine) is refused with a message saying so: see OLD_FORMAT.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import msgpack
import zstandard

from lithair_node.machine import hot_chunks, snapshot_segments
from lithair_node.machine.capture import StateView
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.msgpack_bin import bin_header
from lithair_node.machine.snapshot_segments import SnapshotError
from lithair_node.machine.tables import Counters

__all__ = ["SnapshotError", "dump", "dump_linked", "load", "read_file", "write_atomic"]

MAGIC = "lithair-snapshot"
FORMAT_VERSION = 2
LIFECYCLE_FORMAT = 3  # format 2 + the lifecycle record
OLD_FORMAT = 1
LINKED_FORMAT = 5  # header + engine + lifecycle; segments and hot chunks as files
LINKED_FORMATS = (4, LINKED_FORMAT)  # 4: the same without hot chunks
SEGMENTS_DIR = snapshot_segments.SEGMENTS_DIR
CHUNK_BYTES = 16 * 1024 * 1024
_MAX_OBJECT = 4 * CHUNK_BYTES


def _header(view: StateView, raft_meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "magic": MAGIC,
        "format": LIFECYCLE_FORMAT if view.lifecycle else FORMAT_VERSION,
        "raft": raft_meta,
        "counters": vars(view.counters),
        "keys": view.keys,
        "members": view.members,
        "hashes": view.hashes,
        "anomalies": view.anomalies,
        "segments": len(view.segments),
    }


def dump(view: StateView, raft_meta: dict[str, Any], out: BinaryIO) -> None:
    """The self-contained stream (format 2/3): every segment inline."""
    packer = msgpack.Packer(use_bin_type=True)
    out.write(packer.pack(_header(view, raft_meta)))
    dump_blob(packer, out, ["engine"], view.full_engine())
    if view.lifecycle:
        dump_blob(packer, out, ["lifecycle"], view.lifecycle)
    for segment in view.segments:  # encoded here, in the writer thread, not under the lock
        dump_blob(packer, out, ["segment", segment.number], segments.encode(segment))
    out.write(packer.pack({"end": True, "segments": len(view.segments)}))


def dump_linked(view: StateView, raft_meta: dict[str, Any], refs: list[dict[str, Any]],
                out: BinaryIO, hot_refs: list[dict[str, Any]] | None = None) -> None:
    """Format 5: the segments are named by `refs`, the hot columns of a view that holds
    them apart (view.hot) by `hot_refs` (all their files written beforehand)."""
    if len(refs) != len(view.segments):
        raise ValueError("one segment file ref per sealed segment")
    hot_refs = [] if hot_refs is None else hot_refs
    if view.hot is not None and ([hot_refs[-1]["rows"][1], hot_refs[-1]["triples"][1]]
                                 if hot_refs else [0, 0]) != [view.hot.rows, view.hot.triples]:
        raise ValueError("the hot chunk refs do not cover the hot buffer")
    packer = msgpack.Packer(use_bin_type=True)
    header = {**_header(view, raft_meta), "format": LINKED_FORMAT,
              "lifecycle": bool(view.lifecycle), "segment_files": refs, "hot_files": hot_refs}
    out.write(packer.pack(header))
    # zstd: without hot chunks (an installed stream) the blob is mostly the hot buffer.
    dump_blob(packer, out, ["engine_zstd"], zstandard.ZstdCompressor(level=3).compress(view.engine))
    if view.lifecycle:
        dump_blob(packer, out, ["lifecycle"], view.lifecycle)
    out.write(packer.pack({"end": True, "segments": len(refs)}))


def dump_linked_bytes(view: StateView, raft_meta: dict[str, Any], refs: list[dict[str, Any]],
                      hot_refs: list[dict[str, Any]] | None = None) -> bytes:
    buffer = io.BytesIO()
    dump_linked(view, raft_meta, refs, buffer, hot_refs)
    return buffer.getvalue()


def dump_blob(packer: msgpack.Packer, out: BinaryIO, record: list[Any], blob: bytes) -> None:
    """record + [pieces], then the pieces as bin objects written by hand from the blob's
    buffer: packer.pack of a large bytes object copies it while holding the GIL, which
    starved the Raft and HTTP threads for tens of ms per snapshot."""
    view = memoryview(blob)
    pieces = range(0, len(blob), CHUNK_BYTES)
    out.write(packer.pack([*record, len(pieces)]))
    for start in pieces:
        piece = view[start : start + CHUNK_BYTES]
        out.write(bin_header(len(piece)))
        out.write(piece)


def load(source: BinaryIO, segment_dir: Path | None = None) -> tuple[StateView, dict[str, Any]]:
    view, raft_meta, _ = load_with_refs(source, segment_dir)
    return view, raft_meta


def load_with_refs(source: BinaryIO, segment_dir: Path | None = None
                   ) -> tuple[StateView, dict[str, Any], list[dict[str, Any]] | None]:
    """The state of a snapshot stream, and its segment file refs if it is linked (format 4/5:
    its segment and hot chunk files are read from `segment_dir`, each checked against its
    ref; a view loaded with hot chunks keeps its hot columns in view.hot)."""
    unpacker = msgpack.Unpacker(source, raw=False, max_buffer_size=_MAX_OBJECT,
                                strict_map_key=False)
    refs = hot = None
    try:
        header = read_header(unpacker)
        state = load_engine(unpacker, header)
        lifecycle = (load_blob(unpacker, ["lifecycle"]) if _has_lifecycle(header) else b"")
        if header["format"] in LINKED_FORMATS:
            if segment_dir is None:
                raise SnapshotError("a linked snapshot (format 4/5) is read with its data dir")
            refs = snapshot_segments.check_refs(header["segment_files"])
            hot = hot_chunks.read(segment_dir, hot_chunks.check_refs(header.get("hot_files", [])))
            sealed = tuple(segments.decode(snapshot_segments.read_verified(segment_dir, ref))
                           for ref in refs)
        else:
            sealed = tuple(segments.decode(load_blob(unpacker, ["segment", number]))
                           for number in range(int(header["segments"])))
        trailer = next(unpacker)
    except StopIteration:
        raise SnapshotError("snapshot is truncated") from None
    except (msgpack.UnpackException, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"snapshot is corrupt: {exc}") from None
    if trailer != {"end": True, "segments": len(sealed)}:
        raise SnapshotError("snapshot trailer missing or wrong")
    view = StateView(
        counters=Counters(**header["counters"]),
        keys=header["keys"],
        members=header["members"],
        engine=state,
        segments=sealed,
        hashes={k: int(v) for k, v in header["hashes"].items()},
        anomalies=header["anomalies"],
        lifecycle=lifecycle,
        hot=hot,
    )
    return view, header["raft"], refs


def read_header(unpacker: msgpack.Unpacker) -> dict[str, Any]:
    header = next(unpacker)
    if not isinstance(header, dict) or header.get("magic") != MAGIC:
        raise SnapshotError("not a Lithair snapshot")
    if header.get("format") == OLD_FORMAT:
        raise SnapshotError(
            "snapshot format 1 predates the columnar storage engine and is not read by "
            "this version: move the file aside and let the node catch up from the leader "
            "(or restore it with the previous version and take a new snapshot)")
    if header.get("format") not in (FORMAT_VERSION, LIFECYCLE_FORMAT, *LINKED_FORMATS):
        raise SnapshotError(f"unsupported snapshot format {header.get('format')!r}")
    return header


def load_engine(unpacker: msgpack.Unpacker, header: dict[str, Any]) -> bytes:
    if header["format"] not in LINKED_FORMATS:
        return load_blob(unpacker, ["engine"])
    return bytes(zstandard.ZstdDecompressor().decompress(load_blob(unpacker, ["engine_zstd"])))


def _has_lifecycle(header: dict[str, Any]) -> bool:
    if header["format"] in LINKED_FORMATS:
        return bool(header["lifecycle"])
    return bool(header["format"] == LIFECYCLE_FORMAT)


def load_blob(unpacker: msgpack.Unpacker, record: list[Any]) -> bytes:
    found = next(unpacker)
    if not (isinstance(found, list) and found[:-1] == record and isinstance(found[-1], int)):
        raise SnapshotError(f"expected a {record[0]} record")
    pieces = [next(unpacker) for _ in range(found[-1])]
    if not all(isinstance(piece, bytes) for piece in pieces):
        raise SnapshotError(f"{record[0]} record holds something other than bytes")
    return b"".join(pieces)


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
    """A snapshot file of any format; a linked one's segments are in SEGMENTS_DIR beside it."""
    with open(path, "rb", buffering=1024 * 1024) as source:
        return load(source, path.parent / SEGMENTS_DIR)


def fsync_dir(directory: Path) -> None:
    """A rename is durable only once its directory is (write_atomic, installed snapshots)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
