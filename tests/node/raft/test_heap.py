"""heap.py: giving the heap's free memory back."""

from __future__ import annotations

import threading

from lithair_node.node.raft import heap


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


def test_the_mmap_threshold_is_pinned_on_glibc() -> None:
    # The node pins it at start (server._tune_gc); mallopt accepts the value on glibc.
    if heap._LIBC is None:
        assert not heap.pin_mmap_threshold()
        return
    assert heap.pin_mmap_threshold()
    assert heap.pin_mmap_threshold(heap.MMAP_THRESHOLD_BYTES)


def test_quiet_trim_fires_once_per_burst_after_writes_stop() -> None:
    trim = heap.QuietTrim(quiet_s=1.0)
    assert not trim.due(7, now=0.0)  # first look: a fresh node has nothing to give back
    assert not trim.due(7, now=5.0)
    assert not trim.due(8, now=10.0)  # writes
    assert not trim.due(9, now=10.5)
    assert not trim.due(9, now=11.4)  # quiet, not yet long enough
    assert trim.due(9, now=11.5)
    assert not trim.due(9, now=20.0)  # once: an idle node does not trim again
    assert not trim.due(10, now=30.0)
    assert trim.due(10, now=31.0)  # the next burst
