"""heap.py: giving memory back must never lose data."""

from __future__ import annotations

import mmap
import os
import sys
import threading
from pathlib import Path

import pytest

from lithair_node.node.raft import heap


def _resident_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of `path` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            inside = fields[-1] == str(path)
        elif inside and fields[0] == "Rss:":
            total += int(fields[1])
    return total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="smaps and MADV_DONTNEED are Linux's")
def test_dropping_a_journal_mapping_keeps_its_data_and_frees_its_pages(tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    size = 8 * 1024 * 1024
    path.write_bytes(b"\0" * size)
    with path.open("r+b") as f, mmap.mmap(f.fileno(), 0) as mapping:
        payload = os.urandom(size)
        mapping[:] = payload  # every page dirty and resident
        assert _resident_kib(path) >= size // 1024 * 0.9
        assert heap.drop_mapped_pages(mapping)
        assert _resident_kib(path) < size // 1024 * 0.1
        assert mapping[:] == payload  # faulted back in from the page cache, unchanged
        mapping[:4] = b"next"  # and still writable
    assert path.read_bytes()[:4] == b"next" and path.read_bytes()[4:] == payload[4:]


def test_release_free_memory_runs_once_at_a_time_and_finishes() -> None:
    heap.release_free_memory_soon()
    heap.release_free_memory_soon()  # while one trim runs, another is not started
    trims = [t for t in threading.enumerate() if t.name == "heap-trim"]
    assert len(trims) <= 1
    for thread in trims:
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert heap._trimming.acquire(blocking=False)  # released when done
    heap._trimming.release()
