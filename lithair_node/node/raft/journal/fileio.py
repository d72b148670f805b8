"""The one door to the disk: every open, write, sync, rename and unlink of the journal and of
the durable files goes through a FileIO, so that a test can swap in a disk that forgets what
was never synced (crashdisk.SimulatedDisk) and count the syncs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

Chunk = bytes | memoryview

# writev takes at most IOV_MAX buffers per call (1024 on Linux).
_IOV_MAX = 1024


class FileIO(Protocol):
    """File descriptors are ints. Files are always opened for appending."""

    def open(self, path: str, *, truncate: bool = False) -> int: ...
    def write(self, fd: int, chunks: Sequence[Chunk]) -> None: ...
    def truncate(self, fd: int, size: int) -> None: ...
    def fdatasync(self, fd: int) -> None: ...
    def fsync(self, fd: int) -> None: ...
    def close(self, fd: int) -> None: ...
    def read_file(self, path: str) -> bytes: ...
    def list_dir(self, path: str) -> list[str]: ...
    def exists(self, path: str) -> bool: ...
    def make_dirs(self, path: str) -> None: ...
    def rename(self, source: str, target: str) -> None: ...
    def unlink(self, path: str) -> None: ...
    def fsync_dir(self, path: str) -> None: ...


class OsFileIO:
    """The real disk."""

    def open(self, path: str, *, truncate: bool = False) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if truncate else 0)
        return os.open(path, flags, 0o644)

    def write(self, fd: int, chunks: Sequence[Chunk]) -> None:
        pending = [memoryview(chunk) for chunk in chunks if len(chunk)]
        while pending:
            written = os.writev(fd, pending[:_IOV_MAX])
            # A short write (a signal, a full pipe of the page cache): resume where it stopped.
            while written:
                if written >= len(pending[0]):
                    written -= len(pending.pop(0))
                else:
                    pending[0] = pending[0][written:]
                    written = 0

    def truncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def fdatasync(self, fd: int) -> None:
        os.fdatasync(fd)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def read_file(self, path: str) -> bytes:
        with open(path, "rb") as file:
            return file.read()

    def list_dir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def make_dirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def rename(self, source: str, target: str) -> None:
        os.replace(source, target)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    def fsync_dir(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class WithoutSync:
    """`--durability none`: the same file operations with every sync left out. Survives a
    process kill (the page cache does), not a power cut."""

    def __init__(self, inner: FileIO) -> None:
        self._inner = inner

    def open(self, path: str, *, truncate: bool = False) -> int:
        return self._inner.open(path, truncate=truncate)

    def write(self, fd: int, chunks: Sequence[Chunk]) -> None:
        self._inner.write(fd, chunks)

    def truncate(self, fd: int, size: int) -> None:
        self._inner.truncate(fd, size)

    def fdatasync(self, fd: int) -> None:
        pass

    def fsync(self, fd: int) -> None:
        pass

    def close(self, fd: int) -> None:
        self._inner.close(fd)

    def read_file(self, path: str) -> bytes:
        return self._inner.read_file(path)

    def list_dir(self, path: str) -> list[str]:
        return self._inner.list_dir(path)

    def exists(self, path: str) -> bool:
        return self._inner.exists(path)

    def make_dirs(self, path: str) -> None:
        self._inner.make_dirs(path)

    def rename(self, source: str, target: str) -> None:
        self._inner.rename(source, target)

    def unlink(self, path: str) -> None:
        self._inner.unlink(path)

    def fsync_dir(self, path: str) -> None:
        pass
