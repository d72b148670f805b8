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
