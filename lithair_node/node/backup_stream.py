"""A backup of this node's state as a stream of chunks: captured at one applied index,
written by a thread of its own while apply goes on, handed over through a bounded queue."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator

from lithair_node.machine import backup_file
from lithair_node.machine.capture import StateView
from lithair_node.machine.state import StateMachine

CHUNK_BYTES = 1 << 20
_QUEUED_CHUNKS = 8  # memory held by one backup: about this many chunks
_CAPTURE_ATTEMPTS = 50


class StateTooBusy(Exception):
    """Every capture raced an apply: no view and digest at one index."""


def capture_with_digest(state: StateMachine) -> tuple[StateView, str]:
    """A view and the digest of the same applied index. capture() and digest() each take
    the state lock once; if the applied index did not move across both, no entry was
    applied in between (every apply advances it), so both describe one state."""
    for _ in range(_CAPTURE_ATTEMPTS):
        view = state.capture()
        digest = state.digest()
        if state.applied_index == view.counters.applied_index:
            return view, digest
    raise StateTooBusy(f"the state changed during each of {_CAPTURE_ATTEMPTS} captures")


def backup_info(view: StateView, digest: str, cluster: list[dict[str, str]]) -> backup_file.BackupInfo:
    return backup_file.BackupInfo(
        format=backup_file.FORMAT_VERSION, applied_index=view.counters.applied_index,
        applied_term=view.counters.applied_term, digest=digest,
        readings=view.counters.total_readings, cluster=cluster, created_at=time.time(),
    )


class _Done:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class BackupStream:
    """Iterate it (off the event loop: next() blocks) for chunks of at most CHUNK_BYTES;
    close() stops the writer thread early (a client that went away)."""

    def __init__(self, view: StateView, info: backup_file.BackupInfo) -> None:
        self._queue: queue.Queue[bytes | _Done] = queue.Queue(_QUEUED_CHUNKS)
        self._closed = threading.Event()
        self._pending = bytearray()
        self._thread = threading.Thread(target=self._run, args=(view, info),
                                        name="backup-writer", daemon=True)
        self._thread.start()

    def _run(self, view: StateView, info: backup_file.BackupInfo) -> None:
        error: BaseException | None = None
        try:
            backup_file.write(view, info, self)  # type: ignore[arg-type]  # write() only
            self._flush()
        except BaseException as exc:  # handed to the reader, which raises it
            error = exc
        with contextlib.suppress(ConnectionAbortedError):  # the reader is gone: nobody to tell
            self._put(_Done(error))

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data).cast("B")
        start = 0
        while start < len(view):
            taken = view[start:start + CHUNK_BYTES - len(self._pending)]
            self._pending += taken
            start += len(taken)
            if len(self._pending) == CHUNK_BYTES:
                self._flush()
        return len(view)

    def _flush(self) -> None:
        if self._pending:
            self._put(bytes(self._pending))
            self._pending.clear()

    def _put(self, item: bytes | _Done) -> None:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        raise ConnectionAbortedError("backup stream closed by its reader")

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if isinstance(item, _Done):
                if item.error is not None:
                    raise item.error
                return
            yield item

    def close(self) -> None:
        self._closed.set()
