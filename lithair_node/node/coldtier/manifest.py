"""The cold tier's file list: one ColdFile per Parquet object, as the writer made it. Its
msgpack form is what the leader commits through the Raft log before the readings leave
memory, so it is plain values only (no numpy, no pyarrow) and versioned like commands.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgpack

from lithair_node.node.coldtier.store import ColdStore

ENTRY_VERSION = 1
US_PER_DAY = 86_400 * 1_000_000  # files are partitioned by UTC day


class CorruptColdFile(Exception):
    """A stored object whose size or SHA-256 differs from its manifest entry."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cold file {path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class ColdFile:
    path: str  # relative to the tier root: day=YYYY-MM-DD/part-<name>.parquet
    day: str  # YYYY-MM-DD (UTC), the Hive partition value
    min_ts: int  # microseconds since the epoch, inclusive
    max_ts: int  # inclusive
    rows: int
    sensors: int  # distinct sensors in the file
    metrics: tuple[str, ...]  # the metric columns, sorted: the reader's schema without a footer read
    sha256: bytes  # of the whole object, 32 bytes
    bytes: int

    def overlaps(self, start: int, end: int) -> bool:
        """Whether the file may hold readings in [start, end)."""
        return self.max_ts >= start and self.min_ts < end

    def to_wire(self) -> list[object]:
        return [ENTRY_VERSION, self.path, self.day, self.min_ts, self.max_ts, self.rows,
                self.sensors, list(self.metrics), self.sha256, self.bytes]

    @classmethod
    def from_wire(cls, item: Sequence[object]) -> ColdFile:
        if not item or item[0] != ENTRY_VERSION:
            raise ValueError(f"cold file entry: unknown version {item[:1]!r}")
        _, path, day, min_ts, max_ts, rows, sensors, metrics, sha, size = item
        return cls(str(path), str(day), int(min_ts), int(max_ts), int(rows),  # type: ignore[arg-type]
                   int(sensors), tuple(map(str, metrics)), bytes(sha), int(size))  # type: ignore[arg-type]


def pack(files: Iterable[ColdFile]) -> bytes:
    """The msgpack bytes of a file list (a later log op's payload)."""
    return msgpack.packb([f.to_wire() for f in files], use_bin_type=True)


def unpack(data: bytes) -> list[ColdFile]:
    return [ColdFile.from_wire(item) for item in msgpack.unpackb(data, raw=False)]


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def verify(store: ColdStore, entry: ColdFile) -> None:
    """Raise CorruptColdFile unless the stored object is exactly the one the entry names
    (the size first: cheap on S3, and a truncated upload fails there)."""
    try:
        size = store.size(entry.path)
    except FileNotFoundError:
        raise CorruptColdFile(entry.path, "missing") from None
    if size != entry.bytes:
        raise CorruptColdFile(entry.path, f"{size} bytes, the manifest says {entry.bytes}")
    found = digest(store.get(entry.path))
    if found != entry.sha256:
        raise CorruptColdFile(entry.path, f"sha256 {found.hex()}, the manifest says {entry.sha256.hex()}")
