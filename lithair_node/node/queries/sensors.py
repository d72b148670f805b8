"""The sensor directory: ids in sorted order for cursor pagination, and per-sensor summaries."""

from __future__ import annotations

import bisect
import threading
from typing import Any

from lithair_node.machine.engine.sensor_view import SensorView
from lithair_node.machine.state import StateMachine
from lithair_node.node.queries.series_reads import first_ts, last_ts, stored_metrics
from lithair_node.node.timestamps import format_timestamp


class SensorDirectory:
    """Sorted sensor ids, refreshed incrementally: sensors are never removed and are
    created in the same order on every node, so only ids created since the last refresh
    have to be merged in (no re-sort of every id on every request)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known = 0
        self._sorted: list[str] = []

    def sorted_ids(self, state: StateMachine) -> list[str]:
        """All sensor ids, sorted. The list returned is never modified afterwards."""
        with self._lock:
            fresh = state.sensor_ids_since(self._known)
            if fresh:
                self._known += len(fresh)
                # Timsort merges the sorted run and the new tail in about linear time.
                self._sorted = sorted(self._sorted + fresh)
            return self._sorted


def page_after(ids: list[str], cursor: str | None, limit: int) -> tuple[list[str], str | None]:
    """The `limit` ids after `cursor` (an id handed out as next_cursor), and the next cursor."""
    start = 0 if cursor is None else bisect.bisect_right(ids, cursor)
    chosen = ids[start:start + limit]
    more = start + limit < len(ids)
    return chosen, (chosen[-1] if more and chosen else None)


def summary(view: SensorView, names: list[str]) -> dict[str, Any]:
    first, last = first_ts(view), last_ts(view)
    return {
        "sensor_id": view.sensor_id,
        "location": view.location,
        "readings": len(view),
        "first_timestamp": None if first is None else format_timestamp(first),
        "last_timestamp": None if last is None else format_timestamp(last),
        "metrics": stored_metrics(view, names),
    }
