"""A disk in memory that forgets, at a simulated power cut, everything that was not synced:
the technique of SQLite's crash-test VFS and of LazyFS.

The model, deliberately the pessimistic reading of POSIX:
- a file's content survives only as of its last fsync/fdatasync;
- a name (create, rename, unlink) survives only once its directory was fsync'd; until then
  the power cut restores the directory as of its last fsync;
- directories themselves are durable once made (the journal fsyncs its parent anyway).
With `torn_rng`, a file that was only appended to since its last sync keeps a random prefix of
the unsynced bytes, as a real disk may: that is how torn tails are born.

After power_cut() every call raises PowerLost until restore_power(): threads of the "dead"
process (a journal writer mid-batch) cannot write into the world after the cut.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from lithair_node.node.raft.journal.fileio import Chunk


class PowerLost(OSError):
    """The simulated machine is off."""


@dataclass
class _Inode:
    data: bytearray = field(default_factory=bytearray)
    synced: bytes = b""


@dataclass
class SyncCounts:
    fsync: int = 0
    fdatasync: int = 0
    fsync_dir: int = 0

    @property
    def total(self) -> int:
        return self.fsync + self.fdatasync + self.fsync_dir


class SimulatedDisk:
    """A FileIO. Thread-safe: the journal's writer thread and the Raft thread share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, _Inode] = {}  # what a reader sees now
        self._durable_names: dict[str, _Inode] = {}  # what survives a power cut
        self._dirs: set[str] = set()
        self._fds: dict[int, _Inode] = {}
        self._next_fd = 3
        self.syncs = SyncCounts()
        self.power_cuts = 0
        self._powered = True

    # -- FileIO ---------------------------------------------------------------------------

    def open(self, path: str, *, truncate: bool = False) -> int:
        with self._lock:
            self._require_power()
            self._require_dir(os.path.dirname(path))
            inode = self._names.setdefault(path, _Inode())
            if truncate:
                inode.data.clear()
            fd = self._next_fd
            self._next_fd += 1
            self._fds[fd] = inode
            return fd

    def write(self, fd: int, chunks: Sequence[Chunk]) -> None:
        with self._lock:
            self._require_power()
            data = self._fds[fd].data
            for chunk in chunks:
                data += chunk

    def truncate(self, fd: int, size: int) -> None:
        with self._lock:
            self._require_power()
            data = self._fds[fd].data
            if size < len(data):
                del data[size:]
            else:
                data.extend(bytes(size - len(data)))

    def fdatasync(self, fd: int) -> None:
        with self._lock:
            self._require_power()
            self.syncs.fdatasync += 1
            inode = self._fds[fd]
            inode.synced = bytes(inode.data)

    def fsync(self, fd: int) -> None:
        with self._lock:
            self._require_power()
            self.syncs.fsync += 1
            inode = self._fds[fd]
            inode.synced = bytes(inode.data)

    def close(self, fd: int) -> None:
        with self._lock:
            self._require_power()
            del self._fds[fd]

    def read_file(self, path: str) -> bytes:
        with self._lock:
            self._require_power()
            if path not in self._names:
                raise FileNotFoundError(path)
            return bytes(self._names[path].data)

    def list_dir(self, path: str) -> list[str]:
        with self._lock:
            self._require_power()
            self._require_dir(path)
            names = {os.path.basename(name) for name in self._names
                     if os.path.dirname(name) == path}
            names |= {os.path.basename(name) for name in self._dirs
                      if os.path.dirname(name) == path}
            return sorted(names)

    def exists(self, path: str) -> bool:
        with self._lock:
            self._require_power()
            return path in self._names or path in self._dirs

    def make_dirs(self, path: str) -> None:
        with self._lock:
            self._require_power()
            while path not in self._dirs and path not in ("", os.sep):
                self._dirs.add(path)
                path = os.path.dirname(path)

    def rename(self, source: str, target: str) -> None:
        with self._lock:
            self._require_power()
            if source not in self._names:
                raise FileNotFoundError(source)
            self._require_dir(os.path.dirname(target))
            self._names[target] = self._names.pop(source)

    def unlink(self, path: str) -> None:
        with self._lock:
            self._require_power()
            if path not in self._names:
                raise FileNotFoundError(path)
            del self._names[path]

    def fsync_dir(self, path: str) -> None:
        with self._lock:
            self._require_power()
            self._require_dir(path)
            self.syncs.fsync_dir += 1
            for name in [name for name in self._durable_names if os.path.dirname(name) == path]:
                del self._durable_names[name]
            for name, inode in self._names.items():
                if os.path.dirname(name) == path:
                    self._durable_names[name] = inode

    # -- The test's controls ----------------------------------------------------------------

    def power_cut(self, torn_rng: random.Random | None = None) -> None:
        """Lose everything unsynced. Open descriptors die with the process."""
        with self._lock:
            self.power_cuts += 1
            self._powered = False
            self._fds.clear()
            self._names = dict(self._durable_names)
            # One inode may survive under two names (a rename across directories).
            unique = {id(inode): inode for inode in self._names.values()}
            for inode in unique.values():
                inode.data = bytearray(self._surviving_bytes(inode, torn_rng))

    def restore_power(self) -> None:
        with self._lock:
            self._powered = True

    def tamper(self, path: str, data: bytes) -> None:
        """Replace a file's content, as if on disk (bit flips, truncations)."""
        with self._lock:
            inode = self._names[path]
            inode.data = bytearray(data)
            inode.synced = bytes(data)

    @staticmethod
    def _surviving_bytes(inode: _Inode, torn_rng: random.Random | None) -> bytes:
        appended_only = inode.data.startswith(inode.synced)
        if torn_rng is None or not appended_only or len(inode.data) == len(inode.synced):
            return inode.synced
        kept = torn_rng.randint(0, len(inode.data) - len(inode.synced))
        return bytes(inode.data[:len(inode.synced) + kept])

    def _require_power(self) -> None:
        if not self._powered:
            raise PowerLost("the power is off")

    def _require_dir(self, path: str) -> None:
        if path not in self._dirs:
            raise FileNotFoundError(path)
