"""The segment files as the writer thread changes them. Only that thread touches a SegmentLog.

On disk the journal is one stream of entry records with contiguous indexes, cut into segment
files that roll at a size threshold. Memory and disk stay the same list:
- append writes records to the last segment;
- truncate_from (a Raft conflict) cuts the stream at an entry: later segments are unlinked
  (and the directory synced before anything new is written, so they cannot come back behind
  the new entries), the segment holding it is truncated;
- compact_to writes a FIRST_INDEX mark and unlinks the segments wholly below it; the dead
  prefix left in the first segment is dropped again at the next open;
- reset (the journal became empty) unlinks every segment: the next entry may have any index.
Nothing here is durable until sync().
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Sequence

from lithair_node.node.raft.journal.fileio import Chunk, FileIO
from lithair_node.node.raft.journal.records import MAGIC, RecordKind, frame_header
from lithair_node.node.raft.journal.scan import (
    DamageKind,
    Entry,
    JournalScan,
    segment_name,
)


class _Segment:
    def __init__(self, path: str, seq: int, size: int, first_index: int | None,
                 entry_offsets: array) -> None:
        self.path = path
        self.seq = seq
        self.size = size
        self.first_index = first_index
        self.entry_offsets = entry_offsets

    @property
    def last_index(self) -> int | None:
        if self.first_index is None:
            return None
        return self.first_index + len(self.entry_offsets) - 1


class SegmentLog:
    def __init__(self, io: FileIO, directory: str, segment_bytes: int, scan: JournalScan) -> None:
        self._io = io
        self._directory = directory
        self._segment_bytes = segment_bytes
        self._segments = [_Segment(s.path, s.seq, s.valid_bytes, s.first_index, s.entry_offsets)
                          for s in scan.segments]
        self._active_fd: int | None = None
        self._unsynced_fd = False
        self._unsynced_dir = False
        self._first_live = scan.first_live  # the last compaction mark written
        # Never reused, even after a reset: a stale name must not be appended to.
        self._last_seq = max((s.seq for s in scan.segments), default=0)

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    def append(self, entries: Sequence[Entry]) -> None:
        chunks: list[Chunk] = []
        for command, index, term in entries:
            segment = self._segments[-1] if self._segments else None
            if segment is None or segment.size >= self._segment_bytes:
                self._write(chunks)
                chunks = []
                segment = self._roll()
            header = frame_header(RecordKind.ENTRY, index, term, command)
            if segment.first_index is None:
                segment.first_index = index
            segment.entry_offsets.append(segment.size)
            segment.size += len(header) + len(command)
            chunks += (header, command)
        self._write(chunks)

    def truncate_from(self, index: int) -> None:
        """Drop the entries from `index` on; at least one entry stays (else: reset)."""
        keep = max(position for position, segment in enumerate(self._segments)
                   if segment.first_index is not None and segment.first_index <= index)
        for segment in self._segments[keep + 1:]:
            self._unlink(segment)
        del self._segments[keep + 1:]
        if self._unsynced_dir:
            self._sync_dir()
        segment = self._segments[keep]
        cut = index - (segment.first_index or index)
        if cut < len(segment.entry_offsets):
            segment.size = segment.entry_offsets[cut]
            del segment.entry_offsets[cut:]
            if cut == 0:
                segment.first_index = None
            self._io.truncate(self._open_active(), segment.size)
            self._unsynced_fd = True
        if self._first_live:
            # The cut may have taken the compaction mark with it.
            self._append_mark(self._first_live)

    def compact_to(self, first_index: int) -> None:
        """Entries below `first_index` are gone; at least one entry stays (else: reset)."""
        self._append_mark(first_index)
        while len(self._segments) > 1 and (self._segments[0].last_index or 0) < first_index:
            self._unlink(self._segments.pop(0))

    def reset(self) -> None:
        self._close_active()
        for segment in self._segments:
            self._unlink(segment)
        self._segments = []
        self._first_live = 0
        # Before any new entry can become durable: the old stream must not come back.
        self._sync_dir()

    def sync(self) -> bool:
        """Make everything written durable; True if a data sync was needed."""
        synced_data = False
        if self._unsynced_fd and self._active_fd is not None:
            self._io.fdatasync(self._active_fd)
            synced_data = True
        self._unsynced_fd = False
        if self._unsynced_dir:
            self._sync_dir()
        return synced_data

    def make_scanned_durable(self) -> None:
        """What was read at open may still be only in the page cache (the previous process was
        killed before its sync, or ran with durability none): sync it before it counts."""
        for segment in self._segments:
            fd = self._io.open(segment.path)
            try:
                self._io.fdatasync(fd)
            finally:
                self._io.close(fd)
        self._sync_dir()

    def close(self) -> None:
        self.sync()
        self._close_active()

    def repair_torn_tail(self, scan: JournalScan) -> None:
        """Cut the last segment at its last intact record (before anything is appended after
        the damage, which would turn a torn tail into corruption in the middle)."""
        if scan.damage is None or scan.damage.kind is not DamageKind.TORN_TAIL:
            return
        segment = self._segments[-1]
        if segment.size < len(MAGIC):
            self._unlink(segment)
            self._segments.pop()
        else:
            self._io.truncate(self._open_active(), segment.size)
            self._unsynced_fd = True
        self.sync()

    def _append_mark(self, first_index: int) -> None:
        self._first_live = first_index
        header = frame_header(RecordKind.FIRST_INDEX, first_index, 0, b"")
        segment = self._segments[-1]
        segment.size += len(header)
        self._write([header])

    def _roll(self) -> _Segment:
        # The finished segment is synced before the next one gets data: a power cut can tear
        # only the last segment.
        self.sync()
        self._close_active()
        self._last_seq += 1
        seq = self._last_seq
        segment = _Segment(os.path.join(self._directory, segment_name(seq)), seq,
                           len(MAGIC), None, array("Q"))
        self._segments.append(segment)
        self._unsynced_dir = True
        self._io.write(self._open_active(), [MAGIC])
        return segment

    def _write(self, chunks: list[Chunk]) -> None:
        if chunks:
            self._io.write(self._open_active(), chunks)
            self._unsynced_fd = True

    def _open_active(self) -> int:
        if self._active_fd is None:
            self._active_fd = self._io.open(self._segments[-1].path)
        return self._active_fd

    def _close_active(self) -> None:
        if self._active_fd is not None:
            self._io.close(self._active_fd)
            self._active_fd = None
            self._unsynced_fd = False

    def _unlink(self, segment: _Segment) -> None:
        if segment is self._segments[-1]:
            self._close_active()
        self._io.unlink(segment.path)
        self._unsynced_dir = True

    def _sync_dir(self) -> None:
        self._io.fsync_dir(self._directory)
        self._unsynced_dir = False
