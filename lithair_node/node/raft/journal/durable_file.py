"""Replace a small file so that a power cut leaves either the old content or the new, never an
empty or half-written file: temp file, fsync, rename, fsync of the directory (the rename
itself is only durable once the directory is)."""

from __future__ import annotations

import os

from lithair_node.node.raft.journal.fileio import FileIO, OsFileIO

TEMP_SUFFIX = ".tmp"


def write_durably(path: str | os.PathLike[str], data: bytes, io: FileIO | None = None) -> None:
    io = io or OsFileIO()
    target = os.fspath(path)
    temp = target + TEMP_SUFFIX
    fd = io.open(temp, truncate=True)
    try:
        io.write(fd, [data])
        io.fsync(fd)
    finally:
        io.close(fd)
    io.rename(temp, target)
    io.fsync_dir(os.path.dirname(os.path.abspath(target)))


def make_dirs_durably(path: str | os.PathLike[str], io: FileIO | None = None) -> None:
    """A directory made for files that must survive: its own entry in its parent is made
    durable too, else a power cut could take the whole directory away."""
    io = io or OsFileIO()
    directory = os.path.abspath(os.fspath(path))
    if io.exists(directory):
        return
    io.make_dirs(directory)
    io.fsync_dir(os.path.dirname(directory))
