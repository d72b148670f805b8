"""The data dir's snapshot-segments/: one durable file per sealed segment, written once.

A linked snapshot (machine/snapshot_file.py, format 4) names its segments by ref; a new
snapshot writes only the files the directory lacks, so its cost is what changed since the
last one (new segments, the engine's state, the header), not the whole state. Segments are
immutable objects: the ref of one already written is remembered by identity (weakly, so a
segment retention dropped is forgotten with it), and it is never encoded again.

The hot buffer's rows go beside them as chunk files (machine/hot_chunks.py): ensure_hot()
writes one chunk of the rows appended since the last snapshot of the same hot buffer (known
by the identity of its arrays: append-only until a cut, a retention pass or a restore
replaces them), or the whole buffer as a new chunk list.

Every write goes through the node's FileIO (the power-cut tests' disk): temp file, fsync,
rename, then one fsync of the directory for the batch. Files are deleted only by collect(),
after the snapshot that stopped naming them is durable.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lithair_node.machine import hot_chunks
from lithair_node.machine.engine.segment import Segment
from lithair_node.machine.engine.snapshot import HotColumns
from lithair_node.machine.snapshot_segments import SEGMENTS_DIR, encode_with_ref, is_segment_file
from lithair_node.node.raft.journal import FileIO
from lithair_node.node.raft.journal.durable_file import TEMP_SUFFIX, make_dirs_durably


class SegmentFiles:
    def __init__(self, data_dir: Path, io: FileIO) -> None:
        self.directory = data_dir / SEGMENTS_DIR
        self._io = io
        self._refs: weakref.WeakKeyDictionary[Segment, dict[str, Any]] = \
            weakref.WeakKeyDictionary()
        # The writer thread and an install from the leader may both write and collect.
        self._lock = threading.Lock()
        self.written_files = 0  # since start: what the incremental snapshots cost
        self.written_bytes = 0
        # The hot buffer the last chunk list describes: weak refs to its arrays (a new
        # buffer's arrays may reuse a dead one's address, never its live object), the refs.
        self._hot_arrays: tuple[weakref.ref[np.ndarray], ...] = ()
        self._hot_refs: list[dict[str, Any]] = []

    def remember(self, sealed: Sequence[Segment], refs: Sequence[dict[str, Any]]) -> None:
        """The refs of segments loaded from (or just written to) this directory."""
        for segment, ref in zip(sealed, refs, strict=True):
            self._refs[segment] = ref

    def ensure(self, sealed: Sequence[Segment]) -> tuple[list[dict[str, Any]], int, int]:
        """Every segment's ref, writing the files missing (durably); returns the refs and
        the files and bytes written for this call."""
        with self._lock:
            return self._ensure(sealed)

    def _ensure(self, sealed: Sequence[Segment]) -> tuple[list[dict[str, Any]], int, int]:
        make_dirs_durably(self.directory, self._io)
        refs: list[dict[str, Any]] = []
        files = size = 0
        for segment in sealed:
            ref = self._refs.get(segment)
            if ref is None or not self._io.exists(self._path(ref["name"])):
                blob, ref = encode_with_ref(segment)
                if not self._io.exists(self._path(ref["name"])):  # same content: same name
                    self._write(ref["name"], blob)
                    files, size = files + 1, size + len(blob)
                self._refs[segment] = ref
            refs.append(ref)
        if files:
            self._io.fsync_dir(str(self.directory))  # the renames, before any snapshot names them
        self.written_files += files
        self.written_bytes += size
        return refs, files, size

    def ensure_hot(self, hot: HotColumns) -> tuple[list[dict[str, Any]], int, int]:
        """The chunk refs covering `hot` (a captured view of the buffer), writing the one
        chunk of rows the last list lacks (durably); returns them, files and bytes written."""
        with self._lock:
            make_dirs_durably(self.directory, self._io)
            arrays = tuple(_owner(column) for column in hot.columns())
            refs = list(self._hot_refs)
            rows, triples = (refs[-1]["rows"][1], refs[-1]["triples"][1]) if refs else (0, 0)
            same = (len(self._hot_arrays) == len(arrays)
                    and all(ref() is array for ref, array in zip(self._hot_arrays, arrays,
                                                                 strict=True))
                    and hot.rows >= rows and hot.triples >= triples
                    and all(self._io.exists(self._path(ref["name"])) for ref in refs))
            if not same:
                refs, rows, triples = [], 0, 0
            files = size = 0
            if hot.rows > rows:
                blob, ref = hot_chunks.encode(hot, (rows, hot.rows), (triples, hot.triples))
                if not self._io.exists(self._path(ref["name"])):
                    self._write(ref["name"], blob)
                    self._io.fsync_dir(str(self.directory))
                    files, size = 1, len(blob)
                refs.append(ref)
            self._hot_arrays = tuple(weakref.ref(array) for array in arrays)
            self._hot_refs = refs
            self.written_files += files
            self.written_bytes += size
            return refs, files, size

    def collect(self, keep: Iterable[dict[str, Any]]) -> int:
        """Delete every segment and hot chunk file (and leftover temp file) `keep` does not
        name. Call only once the snapshot naming `keep` is durable."""
        with self._lock:
            return self._collect(keep)

    def _collect(self, keep: Iterable[dict[str, Any]]) -> int:
        if not self._io.exists(str(self.directory)):
            return 0
        names = {ref["name"] for ref in keep}
        removed = 0
        for name in self._io.list_dir(str(self.directory)):
            ours = is_segment_file(name) or hot_chunks.is_chunk_file(name)
            stale = name.endswith(TEMP_SUFFIX) or (ours and name not in names)
            if stale:
                self._io.unlink(self._path(name))
                removed += 1
        if removed:
            self._io.fsync_dir(str(self.directory))
        return removed

    def _path(self, name: str) -> str:
        return os.fspath(self.directory / name)

    def _write(self, name: str, blob: bytes) -> None:
        target = self._path(name)
        temp = target + TEMP_SUFFIX
        fd = self._io.open(temp, truncate=True)
        try:
            self._io.write(fd, [memoryview(blob)])
            self._io.fsync(fd)
        finally:
            self._io.close(fd)
        self._io.rename(temp, target)


def _owner(column: np.ndarray) -> np.ndarray:
    """The array that owns a view's memory (the hot buffer's column array)."""
    return column if column.base is None else column.base  # type: ignore[return-value]
