"""The on-disk frame of a journal record, and the parse of one segment file.

A segment is MAGIC followed by records. A record is
    crc32c (u32) | payload length (u32) | kind (u8) | log index (u64) | term (u64) | payload
little-endian; the CRC covers everything after itself. Kinds: an ENTRY carries a Raft entry's
command bytes; a FIRST_INDEX mark (no payload, its index field is the new first index) records
a compaction that dropped the entries below it.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import google_crc32c

MAGIC = b"LTHJRNL1"
_CRC = struct.Struct("<I")
_BODY = struct.Struct("<IBQQ")  # payload length, kind, index, term
HEADER_BYTES = _CRC.size + _BODY.size
INDEX_FIELD_OFFSET = _CRC.size + 4 + 1
# Far above any entry we accept (the API caps batches well below): a length beyond it is
# damage, not a record to allocate memory for.
MAX_PAYLOAD_BYTES = 1 << 30


class RecordKind(enum.IntEnum):
    ENTRY = 1
    FIRST_INDEX = 2


def frame_header(kind: RecordKind, index: int, term: int, payload: bytes) -> bytes:
    body = _BODY.pack(len(payload), kind, index, term)
    crc = google_crc32c.extend(google_crc32c.value(body), payload)
    return _CRC.pack(crc) + body


@dataclass(frozen=True, slots=True)
class Record:
    offset: int
    kind: RecordKind
    index: int
    term: int
    payload: bytes

    @property
    def end(self) -> int:
        return self.offset + HEADER_BYTES + len(self.payload)


class BadRecord(Exception):
    """Raised by read_record: the bytes at `offset` are not a whole, intact record."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.offset = offset
        self.reason = reason


def read_record(data: bytes, offset: int) -> Record:
    if len(data) - offset < HEADER_BYTES:
        raise BadRecord(offset, f"incomplete record header ({len(data) - offset} bytes)")
    (crc,) = _CRC.unpack_from(data, offset)
    length, kind, index, term = _BODY.unpack_from(data, offset + _CRC.size)
    start = offset + HEADER_BYTES
    if length > MAX_PAYLOAD_BYTES or start + length > len(data):
        raise BadRecord(offset, f"record of {length} bytes runs past the end of the file")
    body = data[offset + _CRC.size:start]
    payload = data[start:start + length]
    if google_crc32c.extend(google_crc32c.value(body), payload) != crc:
        raise BadRecord(offset, "CRC32C mismatch")
    try:
        return Record(offset, RecordKind(kind), index, term, payload)
    except ValueError:
        raise BadRecord(offset, f"unknown record kind {kind}") from None


def read_records(data: bytes) -> Iterator[Record]:
    """Every record of a segment's bytes, in order; BadRecord at the first that is not."""
    if not data.startswith(MAGIC):
        raise BadRecord(0, "not a journal segment (bad magic)")
    offset = len(MAGIC)
    while offset < len(data):
        record = read_record(data, offset)
        yield record
        offset = record.end


def valid_record_after(data: bytes, offset: int, indexes: tuple[int, ...]) -> int | None:
    """Offset of an intact record beyond `offset` whose index is one of `indexes`, or None.

    Tells a torn tail (nothing intact after the damage) from damage in the middle. Records
    are found by their index field (a C-speed find of 8 bytes), then confirmed by their CRC."""
    for index in indexes:
        needle = struct.pack("<Q", index)
        hit = data.find(needle, offset + 1 + INDEX_FIELD_OFFSET)
        while hit != -1:
            start = hit - INDEX_FIELD_OFFSET
            try:
                read_record(data, start)
                return start
            except BadRecord:
                hit = data.find(needle, hit + 1)
    return None
