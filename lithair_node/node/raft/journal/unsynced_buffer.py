"""A test-only disk for real node processes: every write stays in the process until the file
is fsync'd, so a kill -9 of the process loses exactly what a power cut would lose (the page
cache no longer saves it). Names (create, rename, unlink) reach the file system at once,
which is kinder than a real power cut: these tests check data, SimulatedDisk checks names.

Turned on by LITHAIR_TEST_UNSYNCED_WRITES=buffer, only together with LITHAIR_TESTING=1
(node/config.py refuses it otherwise): never a CLI option."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from lithair_node.node.raft.journal.fileio import Chunk, OsFileIO


class BufferedUntilSync(OsFileIO):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, bytearray] = {}

    def open(self, path: str, *, truncate: bool = False) -> int:
        fd = super().open(path, truncate=truncate)
        with self._lock:
            self._pending[fd] = bytearray()
        return fd

    def write(self, fd: int, chunks: Sequence[Chunk]) -> None:
        with self._lock:
            buffer = self._pending[fd]
            for chunk in chunks:
                buffer += chunk

    def truncate(self, fd: int, size: int) -> None:
        with self._lock:
            buffer = self._pending[fd]
            on_disk = os.fstat(fd).st_size
            if size >= on_disk:
                kept = size - on_disk
                del buffer[kept:]
                buffer.extend(bytes(kept - len(buffer)))
                return
            buffer.clear()
        super().truncate(fd, size)

    def fdatasync(self, fd: int) -> None:
        self._write_out(fd)
        super().fdatasync(fd)

    def fsync(self, fd: int) -> None:
        self._write_out(fd)
        super().fsync(fd)

    def close(self, fd: int) -> None:
        # A close does not make data durable: what was never synced is dropped, as a power
        # cut right after the close would.
        with self._lock:
            self._pending.pop(fd, None)
        super().close(fd)

    def _write_out(self, fd: int) -> None:
        with self._lock:
            data = bytes(self._pending[fd])
            self._pending[fd].clear()
        super().write(fd, [data])
