"""Backup files: a snapshot of one node's state at a known applied index, with a checksum.

    magic     b"LTHRBKUP"                              8 bytes
    length    u32 big-endian                           4 bytes
    header    msgpack map: format, applied_index, applied_term, digest, readings, cluster
              [{raft, node_id, http}], created_at (metadata only: never enters apply)
    snapshot  snapshot_file.dump's stream, unchanged
    trailer   b"LTHRSHA2" + SHA-256 of every byte before the trailer     40 bytes

The snapshot part is the codec's public stream (dump/load), so a backup follows whatever the
state stores; the length-prefixed header can be read without unpacking the snapshot.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import msgpack

from lithair_node.machine import snapshot_file
from lithair_node.machine.capture import StateView

MAGIC = b"LTHRBKUP"
TRAILER_MAGIC = b"LTHRSHA2"
FORMAT_VERSION = 1
TRAILER_BYTES = len(TRAILER_MAGIC) + hashlib.sha256().digest_size
_LENGTH = struct.Struct(">I")
_MAX_HEADER = 1 << 20
_READ_BYTES = 1 << 20


class BackupError(ValueError):
    """Not a backup, an unknown format, or damaged (the message says which)."""


@dataclass(frozen=True)
class BackupInfo:
    format: int
    applied_index: int
    applied_term: int
    digest: str
    readings: int
    cluster: list[dict[str, str]]
    created_at: float
    size: int = 0


class _Hashing:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self._out.write(data)


def write(view: StateView, info: BackupInfo, out: BinaryIO) -> int:
    """The whole backup of `view` into `out`; returns its size in bytes."""
    hashing = _Hashing(out)
    header = msgpack.packb({
        "format": FORMAT_VERSION, "applied_index": info.applied_index,
        "applied_term": info.applied_term, "digest": info.digest, "readings": info.readings,
        "cluster": info.cluster, "created_at": info.created_at,
    }, use_bin_type=True)
    hashing.write(MAGIC + _LENGTH.pack(len(header)) + header)
    snapshot_file.dump(view, {}, hashing)  # type: ignore[arg-type]  # only write() is used
    out.write(TRAILER_MAGIC + hashing.sha.digest())
    return hashing.size + TRAILER_BYTES


def verify(path: Path) -> BackupInfo:
    """Check the checksum of the whole file (one streaming pass), then the magic and format."""
    size = path.stat().st_size
    if size < len(MAGIC) + _LENGTH.size + TRAILER_BYTES:
        raise BackupError(f"{path}: too short to be a Lithair backup ({size} bytes)")
    sha = hashlib.sha256()
    with open(path, "rb") as source:
        left = size - TRAILER_BYTES
        while left:
            chunk = source.read(min(_READ_BYTES, left))
            if not chunk:
                raise BackupError(f"{path}: truncated while reading")
            sha.update(chunk)
            left -= len(chunk)
        trailer = source.read(TRAILER_BYTES)
    if trailer[:len(TRAILER_MAGIC)] != TRAILER_MAGIC:
        raise BackupError(f"{path}: trailer missing: the backup is truncated or damaged")
    if trailer[len(TRAILER_MAGIC):] != sha.digest():
        raise BackupError(f"{path}: checksum mismatch: the backup is damaged (SHA-256 "
                          f"recorded {trailer[len(TRAILER_MAGIC):].hex()[:16]}..., "
                          f"computed {sha.hexdigest()[:16]}...)")
    with open(path, "rb") as source:  # read once the bytes are known to be intact
        return _read_header(source, path, size)


def read_state(path: Path) -> tuple[BackupInfo, StateView]:
    """Verify the file, then load the state it holds."""
    info = verify(path)
    with open(path, "rb", buffering=_READ_BYTES) as source:
        _read_header(source, path, info.size)
        try:
            view, _ = snapshot_file.load(source)
        except snapshot_file.SnapshotError as exc:
            raise BackupError(f"{path}: {exc}") from None
    if view.counters.applied_index != info.applied_index:
        raise BackupError(f"{path}: the header says index {info.applied_index}, the "
                          f"snapshot holds {view.counters.applied_index}")
    return info, view


def _read_header(source: BinaryIO, path: Path, size: int) -> BackupInfo:
    if source.read(len(MAGIC)) != MAGIC:
        raise BackupError(f"{path}: not a Lithair backup (bad magic)")
    (length,) = _LENGTH.unpack(source.read(_LENGTH.size))
    if length > _MAX_HEADER:
        raise BackupError(f"{path}: header length {length} is implausible: damaged")
    try:
        header: dict[str, Any] = msgpack.unpackb(source.read(length), raw=False)
        if header.get("format") != FORMAT_VERSION:
            raise BackupError(f"{path}: unsupported backup format {header.get('format')!r} "
                              f"(this version reads {FORMAT_VERSION})")
        return BackupInfo(
            format=int(header["format"]), applied_index=int(header["applied_index"]),
            applied_term=int(header["applied_term"]), digest=str(header["digest"]),
            readings=int(header["readings"]), cluster=list(header["cluster"]),
            created_at=float(header["created_at"]), size=size,
        )
    except BackupError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, msgpack.UnpackException) as exc:
        raise BackupError(f"{path}: header is damaged ({exc})") from None
