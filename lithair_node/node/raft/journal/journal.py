"""DurableJournal: PySyncObj's journal interface (as its MemoryJournal/FileJournal define it)
over fsync'd segment files with group commit.

Threads: every Journal method is called on the Raft thread and only touches memory, then
hands an operation to the writer thread (writer.py) - except setCurrentTerm, which must be
durable before it returns. The entries live once, in the list PySyncObj indexes; the writer
frames them straight from the same bytes objects.
"""

from __future__ import annotations

import enum
import os
from typing import Any, overload

from lithair_node.node.raft.journal import trace
from lithair_node.node.raft.journal.durable_file import make_dirs_durably
from lithair_node.node.raft.journal.fileio import FileIO, OsFileIO, WithoutSync
from lithair_node.node.raft.journal.histogram import LatencyHistogram
from lithair_node.node.raft.journal.meta import (
    TermVote,
    commit_index_file,
    read_commit_index,
    read_term_vote,
    write_term_vote,
)
from lithair_node.node.raft.journal.scan import (
    Damage,
    DamageKind,
    Entry,
    JournalCorrupt,
    scan_journal,
)
from lithair_node.node.raft.journal.segments import SegmentLog
from lithair_node.node.raft.journal.writer import (
    Append,
    CompactTo,
    DurableListener,
    GroupCommitWriter,
    Reset,
    SaveFile,
    TruncateFrom,
)

# Compaction frees disk a whole segment at a time: small enough to free space soon after a
# snapshot (32 MiB of entries by default), large enough to roll rarely.
DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024


class Durability(enum.StrEnum):
    FSYNC = "fsync"
    NONE = "none"


class DurableJournal:
    def __init__(self, directory: str | os.PathLike[str], *,
                 durability: Durability = Durability.FSYNC, io: FileIO | None = None,
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        """Opens (or creates) the journal in `directory`. Raises JournalCorrupt on damage
        other than a torn tail, which is cut off (see `repaired`)."""
        self.durability = Durability(durability)
        disk = io or OsFileIO()
        self._io = disk if self.durability is Durability.FSYNC else WithoutSync(disk)
        self._directory = os.path.abspath(os.fspath(directory))
        make_dirs_durably(self._directory, self._io)
        scan = scan_journal(self._io, self._directory)
        if scan.damage is not None and scan.damage.kind is DamageKind.CORRUPT:
            raise JournalCorrupt(scan.damage)
        self.repaired: Damage | None = scan.damage
        self._term_vote = read_term_vote(self._io, self._directory)
        self._entries: list[Entry] = scan.entries
        # Command bytes the list holds (the Raft log since the last snapshot): what the
        # snapshot trigger bounds, shown by describe() so RSS can be attributed.
        self._held_bytes = sum(len(entry[0]) for entry in self._entries)
        last = self._last_index()
        stored_commit = read_commit_index(self._io, self._directory)
        # PySyncObj's default is 1; never beyond what survived (a follower's commit index can
        # run ahead of its own durable entries).
        self._commit_index = min(stored_commit, max(last, 1)) if stored_commit else 1
        self._commit_saved = True
        segments = SegmentLog(self._io, self._directory, segment_bytes, scan)
        segments.repair_torn_tail(scan)
        segments.make_scanned_durable()
        if self._term_vote != TermVote():
            write_term_vote(self._io, self._directory, self._term_vote)  # same reason
        self.fsync_latency = LatencyHistogram()
        # Counts conflicts and clears: an acknowledgement held for durability is only valid
        # for the log it was made on (raft_gates.HeldAcks' epoch).
        self.truncations = 0
        self._writer = GroupCommitWriter(
            segments, self._io, self.fsync_latency,
            measure_syncs=self.durability is Durability.FSYNC, durable_index=last)

    # -- PySyncObj's Journal interface (its names) ------------------------------------------

    def add(self, command: bytes, idx: int, term: int) -> None:
        if not isinstance(command, bytes):
            raise TypeError(f"journal commands are bytes, not {type(command).__name__}")
        if self._entries and idx != self._entries[-1][1] + 1:
            raise ValueError(f"entry {idx} does not follow entry {self._entries[-1][1]}")
        entry = (command, idx, term)
        self._entries.append(entry)
        self._held_bytes += len(command)
        self._writer.submit(Append(entry, idx))
        if trace.ENABLED:
            trace.mark("add", idx)

    def clear(self) -> None:
        self.truncations += 1
        self._entries.clear()
        self._held_bytes = 0
        self._writer.submit(Reset())

    def deleteEntriesFrom(self, entryFrom: int) -> None:
        """`del journal[entryFrom:]` (a Raft conflict: the tail is replaced)."""
        start = slice(entryFrom, None).indices(len(self._entries))[0]
        if start >= len(self._entries):
            return
        if start == 0:
            self.clear()
            return
        first_dropped = self._entries[start][1]
        self.truncations += 1
        self._held_bytes -= sum(len(entry[0]) for entry in self._entries[start:])
        del self._entries[start:]
        self._writer.submit(TruncateFrom(first_dropped, self._last_index()))

    def deleteEntriesTo(self, entryTo: int) -> None:
        """`journal = journal[entryTo:]` (log compaction after a snapshot)."""
        start = slice(entryTo, None).indices(len(self._entries))[0]
        if start == 0:
            return
        if start >= len(self._entries):
            self.clear()
            return
        self._held_bytes -= sum(len(entry[0]) for entry in self._entries[:start])
        del self._entries[:start]
        self._writer.submit(CompactTo(self._entries[0][1], self._last_index()))

    @overload
    def __getitem__(self, item: int) -> Entry: ...
    @overload
    def __getitem__(self, item: slice) -> list[Entry]: ...
    def __getitem__(self, item: int | slice) -> Entry | list[Entry]:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:
        if raftCommitIndex != self._commit_index:
            self._commit_index = raftCommitIndex
            self._commit_saved = False

    def getRaftCommitIndex(self) -> int:
        return self._commit_index

    def setCurrentTerm(self, term: int, votedForNodeId: str | None) -> None:
        """Durable before it returns: PySyncObj sends the vote request or grant right after."""
        state = TermVote(term, votedForNodeId)
        if state != self._term_vote:
            write_term_vote(self._io, self._directory, state)
            self._term_vote = state

    def getCurrentTerm(self) -> int:
        return self._term_vote.term

    def getVotedForNodeId(self) -> str | None:
        return self._term_vote.voted_for

    def onOneSecondTimer(self) -> None:
        if not self._commit_saved:
            self._save_commit_index()

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything added so far is durable (shutdown, tests, benchmarks)."""
        return self._writer.flush(timeout)

    def _destroy(self) -> None:
        self.close()

    # -- Ours ------------------------------------------------------------------------------

    @property
    def held_bytes(self) -> int:
        """Command bytes of the entries held in memory (all since the last compaction)."""
        return self._held_bytes

    @property
    def durable_index(self) -> int:
        """The highest index such that this entry and every one before it are on disk as the
        journal holds them now (0: none)."""
        return self._writer.durable_index

    def add_durable_listener(self, listener: DurableListener) -> None:
        """`listener(durable_index)` runs on the writer thread each time the index advances:
        it must not block (hop to the Raft thread, e.g. wake its poller)."""
        self._writer.add_listener(listener)

    def wait_durable(self, index: int, timeout: float | None = None) -> bool:
        return self._writer.wait_durable(index, timeout)

    def close(self) -> None:
        if not self._commit_saved and self._writer.failure is None:
            self._save_commit_index()
        self._writer.stop()

    def describe(self) -> dict[str, Any]:
        """For /api/v1/cluster/status and `lithair status`."""
        failure = self._writer.failure
        return {
            "durability": str(self.durability),
            "power_cut_safe": self.durability is Durability.FSYNC,
            **({"warning": "durability none: entries are never fsync'd; a power cut can lose "
                           "acknowledged writes"} if self.durability is Durability.NONE else {}),
            "directory": self._directory,
            "segments": self._writer.segment_count,
            **self._bounds(),
            "entries_held": len(self._entries),
            "entry_bytes_held": self._held_bytes,
            "durable_index": self.durable_index,
            "pending_operations": self._writer.pending,
            "write_batches": self._writer.batches,
            "term": self._term_vote.term,
            "voted_for": self._term_vote.voted_for,
            "commit_index": self._commit_index,
            "repaired_at_open": self.repaired.as_dict() if self.repaired else None,
            "writer_error": repr(failure) if failure is not None else None,
            "fsync_latency_s": self.fsync_latency.as_dict(),
        }

    def _bounds(self) -> dict[str, int | None]:
        # Called from other threads (status) while the Raft thread may empty the list.
        try:
            return {"first_index": self._entries[0][1], "last_index": self._entries[-1][1]}
        except IndexError:
            return {"first_index": None, "last_index": None}

    def _save_commit_index(self) -> None:
        path, data = commit_index_file(self._directory, self._commit_index)
        self._writer.submit(SaveFile(path, data, self._last_index()))
        self._commit_saved = True

    def _last_index(self) -> int:
        return self._entries[-1][1] if self._entries else 0
