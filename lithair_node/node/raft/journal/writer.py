"""Group commit: the Raft thread submits operations and never waits; one writer thread
applies every operation queued so far, syncs once (one fdatasync for the whole batch), then
advances the durable index and tells the listeners."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lithair_node.node.raft.journal import trace
from lithair_node.node.raft.journal.durable_file import write_durably
from lithair_node.node.raft.journal.fileio import FileIO
from lithair_node.node.raft.journal.histogram import LatencyHistogram
from lithair_node.node.raft.journal.scan import Entry
from lithair_node.node.raft.journal.segments import SegmentLog

log = logging.getLogger(__name__)

# Every operation carries `last_after`: the journal's last index once it is applied (0 when the
# journal is empty). What is on disk after the writer synced operation S is the journal as it
# was right after S, so the durable index is S's last_after, lowered by any truncation
# submitted since (the minimum of the later operations' last_after).


@dataclass(frozen=True, slots=True)
class Append:
    entry: Entry
    last_after: int


@dataclass(frozen=True, slots=True)
class TruncateFrom:
    index: int
    last_after: int


@dataclass(frozen=True, slots=True)
class CompactTo:
    index: int
    last_after: int


@dataclass(frozen=True, slots=True)
class Reset:
    last_after: int = 0


@dataclass(frozen=True, slots=True)
class SaveFile:
    """A lazily saved side file (the commit index), written in order with the entries."""

    path: str
    data: bytes
    last_after: int


Operation = Append | TruncateFrom | CompactTo | Reset | SaveFile
DurableListener = Callable[[int], None]


class JournalWriteFailed(Exception):
    """The writer thread stopped on an I/O error: nothing more becomes durable. A failed
    fsync is never retried (the kernel may have dropped the dirty pages: "fsyncgate")."""


class GroupCommitWriter:
    def __init__(self, segments: SegmentLog, io: FileIO, histogram: LatencyHistogram, *,
                 measure_syncs: bool, durable_index: int) -> None:
        self._segments = segments
        self._io = io
        self._histogram = histogram
        self._measure_syncs = measure_syncs
        self._cond = threading.Condition()
        self._queue: list[Operation] = []
        self._submitted = 0
        self._done = 0
        self._durable_index = durable_index
        self._listeners: list[DurableListener] = []
        self._stopping = False
        self.failure: BaseException | None = None
        self.batches = 0
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()

    @property
    def durable_index(self) -> int:
        return self._durable_index

    @property
    def pending(self) -> int:
        return self._submitted - self._done

    @property
    def segment_count(self) -> int:
        return self._segments.segment_count

    def add_listener(self, listener: DurableListener) -> None:
        with self._cond:
            self._listeners.append(listener)

    def submit(self, operation: Operation) -> None:
        with self._cond:
            self._queue.append(operation)
            self._submitted += 1
            self._durable_index = min(self._durable_index, operation.last_after)
            self._cond.notify_all()

    def wait_durable(self, index: int, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: self._durable_index >= index or self.failure is not None, timeout) \
                and self._durable_index >= index

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is durable."""
        with self._cond:
            target = self._submitted
            done = self._cond.wait_for(
                lambda: self._done >= target or self.failure is not None, timeout)
            if self.failure is not None:
                raise JournalWriteFailed(str(self.failure)) from self.failure
            return done

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        if self.failure is None:
            self._segments.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stopping)
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
            try:
                self._trace("picked", batch)
                side_files = self._apply(batch)
                self._trace("written", batch)
                started = time.perf_counter()
                if self._segments.sync() and self._measure_syncs:
                    self._histogram.observe(time.perf_counter() - started)
                self._trace("synced", batch)
                self._advance(batch)
                # After the entries are acknowledged: the commit index (a hint, capped by the
                # entries at open) costs two fsyncs that no waiting entry should pay.
                for path, data in side_files:
                    write_durably(path, data, self._io)
            except BaseException as error:
                log.exception("journal writer failed: nothing more will become durable")
                with self._cond:
                    self.failure = error
                    self._cond.notify_all()
                return
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()

    @staticmethod
    def _trace(event: str, batch: list[Operation]) -> None:
        if trace.ENABLED:
            for operation in batch:
                if isinstance(operation, Append):
                    trace.mark(event, operation.last_after, always=operation is batch[-1])

    def _apply(self, batch: list[Operation]) -> list[tuple[str, bytes]]:
        """Applies the batch to the segments; returns the side files to write after it."""
        appends: list[Entry] = []
        side_files: list[tuple[str, bytes]] = []
        for operation in batch:
            if isinstance(operation, Append):
                appends.append(operation.entry)
                continue
            if appends:
                self._segments.append(appends)
                appends = []
            match operation:
                case TruncateFrom(index=index):
                    self._segments.truncate_from(index)
                case CompactTo(index=index):
                    self._segments.compact_to(index)
                case Reset():
                    self._segments.reset()
                case SaveFile(path=path, data=data):
                    side_files.append((path, data))
        if appends:
            self._segments.append(appends)
        return side_files

    def _advance(self, batch: list[Operation]) -> None:
        with self._cond:
            self.batches += 1
            durable = min([batch[-1].last_after] + [op.last_after for op in self._queue])
            advanced = durable > self._durable_index
            self._durable_index = durable
            listeners = list(self._listeners)
            self._cond.notify_all()
        if not advanced:
            return
        for listener in listeners:
            try:
                listener(durable)
            except Exception:
                log.exception("durable-index listener failed")
