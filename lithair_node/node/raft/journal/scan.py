"""Read every segment of a journal directory, verify every record, and say what is damaged.

Never writes: opening the journal (journal.py) repairs a torn tail from what this finds, and
`lithair check` (check.py) only reports it.
- A torn tail is damage at the end of the last segment with nothing intact after it: what a
  crash during a write leaves. It is cut off at the last intact record.
- Anything else (damage followed by intact records, damage in an earlier segment, a gap in
  the indexes) is corruption: acknowledged entries may sit behind it, so the node must refuse
  to start rather than truncate them silently.
"""

from __future__ import annotations

import enum
import os
import struct
from array import array
from dataclasses import dataclass, field
from typing import Any

from lithair_node.node.raft.journal.fileio import FileIO
from lithair_node.node.raft.journal.records import (
    HEADER_BYTES,
    INDEX_FIELD_OFFSET,
    MAGIC,
    BadRecord,
    RecordKind,
    read_record,
    read_records,
    valid_record_after,
)

Entry = tuple[bytes, int, int]  # PySyncObj's (command, index, term)

SEGMENT_SUFFIX = ".seg"


def segment_name(seq: int) -> str:
    return f"{seq:020d}{SEGMENT_SUFFIX}"


def segment_seq(name: str) -> int | None:
    stem = name.removesuffix(SEGMENT_SUFFIX)
    return int(stem) if name.endswith(SEGMENT_SUFFIX) and stem.isdigit() else None


class DamageKind(enum.StrEnum):
    TORN_TAIL = "torn_tail"
    CORRUPT = "corrupt"


@dataclass(frozen=True)
class Damage:
    kind: DamageKind
    path: str
    offset: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "file": self.path, "offset": self.offset,
                "reason": self.reason}


class JournalCorrupt(Exception):
    """The journal is damaged somewhere other than its tail: the node must not start on it."""

    def __init__(self, damage: Damage) -> None:
        super().__init__(
            f"journal file {damage.path} is corrupt at byte {damage.offset}: {damage.reason}. "
            "This is not a torn tail (what a crash leaves), so cutting it off could drop "
            "acknowledged entries: refusing to start. Inspect it with `lithair check "
            "--data-dir`, then restore this node from a healthy member (remove its data dir "
            "and let it rejoin).")
        self.damage = damage


@dataclass
class SegmentScan:
    path: str
    seq: int
    size: int
    valid_bytes: int = 0  # end of the last intact record (or of MAGIC)
    first_index: int | None = None  # of its first ENTRY record
    entry_offsets: array = field(default_factory=lambda: array("Q"))

    @property
    def last_index(self) -> int | None:
        if self.first_index is None:
            return None
        return self.first_index + len(self.entry_offsets) - 1

    def as_dict(self) -> dict[str, Any]:
        return {"file": os.path.basename(self.path), "bytes": self.size,
                "first_index": self.first_index, "last_index": self.last_index,
                "entries": len(self.entry_offsets)}


@dataclass
class JournalScan:
    segments: list[SegmentScan] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)  # the live ones, after compaction marks
    first_live: int = 0  # the highest compaction mark read
    damage: Damage | None = None


def scan_journal(io: FileIO, directory: str) -> JournalScan:
    """A missing or empty directory is an empty journal. Stops at the first corruption."""
    scan = JournalScan()
    if not io.exists(directory):
        return scan
    names = sorted((seq, name) for name in io.list_dir(directory)
                   if (seq := segment_seq(name)) is not None)
    stream_last: int | None = None  # index of the last entry record read, live or not
    first_live = 0
    for position, (seq, name) in enumerate(names):
        path = os.path.join(directory, name)
        data = io.read_file(path)
        segment = SegmentScan(path, seq, len(data))
        scan.segments.append(segment)
        is_last = position == len(names) - 1
        segment.valid_bytes = len(MAGIC) if data.startswith(MAGIC) else 0
        try:
            for record in read_records(data):
                if record.kind is RecordKind.FIRST_INDEX:
                    first_live = max(first_live, record.index)
                else:
                    if stream_last is not None and record.index != stream_last + 1:
                        scan.damage = Damage(DamageKind.CORRUPT, path, record.offset,
                                             f"entry {record.index} follows entry {stream_last}")
                        break
                    if segment.first_index is None:
                        segment.first_index = record.index
                    segment.entry_offsets.append(record.offset)
                    scan.entries.append((record.payload, record.index, record.term))
                    stream_last = record.index
                segment.valid_bytes = record.end
        except BadRecord as bad:
            torn = is_last and not _intact_record_follows(data, bad.offset, stream_last)
            scan.damage = Damage(DamageKind.TORN_TAIL if torn else DamageKind.CORRUPT,
                                 path, bad.offset, bad.reason)
        if scan.damage is not None and scan.damage.kind is DamageKind.CORRUPT:
            break
    scan.first_live = first_live
    _drop_compacted(scan.entries, first_live)
    return scan


def _intact_record_follows(data: bytes, offset: int, stream_last: int | None) -> bool:
    """Is there an intact record after the damage at `offset`? Tried where the next record
    would start (after the magic, or after the damaged record if its length field is right),
    then by searching for the next index."""
    if offset == 0:
        starts = [len(MAGIC)]
    elif len(data) - offset >= HEADER_BYTES:
        starts = [offset + HEADER_BYTES + struct.unpack_from("<I", data, offset + 4)[0]]
    else:
        starts = []
    for start in starts:
        try:
            read_record(data, start)
            return True
        except BadRecord:
            pass
    expected = stream_last + 1 if stream_last is not None else _index_field(data, offset)
    return expected is not None and \
        valid_record_after(data, offset, (expected, expected + 1)) is not None


def _index_field(data: bytes, offset: int) -> int | None:
    """The (unverified) index field of a damaged record: a guess of where the stream was."""
    field_at = offset + INDEX_FIELD_OFFSET
    if offset == 0 or len(data) < field_at + 8:
        return None
    return int(struct.unpack_from("<Q", data, field_at)[0])


def _drop_compacted(entries: list[Entry], first_live: int) -> None:
    if entries and first_live > entries[0][1]:
        del entries[:first_live - entries[0][1]]
