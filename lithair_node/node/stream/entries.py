"""Applied log entries as the stream sees them: a reference handed over by the Raft thread,
decoded into readings on the event loop only when a subscriber asks (and then only once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lithair_node.machine.commands import OP_INGEST, BatchColumns, decode_columns, decode_envelope
from lithair_node.machine.state import ApplyResult
from lithair_node.node.timestamps import format_timestamp


@dataclass(frozen=True, slots=True)
class ReadingFilter:
    """What one subscriber wants; an empty set means "any"."""

    sensor_ids: frozenset[str] = frozenset()
    locations: frozenset[str] = frozenset()
    metrics: frozenset[str] = frozenset()

    def wants_group(self, sensor_id: str, location: str | None) -> bool:
        return (not self.sensor_ids or sensor_id in self.sensor_ids) and \
            (not self.locations or location in self.locations)


class AppliedEntry:
    """One applied entry. `payload` is the very bytes object of the log: no copy is made."""

    __slots__ = ("_batches", "_rows", "index", "payload", "stored", "term")

    def __init__(self, index: int, term: int, payload: bytes, result: ApplyResult) -> None:
        self.index = index
        self.term = term
        self.payload = payload
        # Only batches apply stored (not a retried duplicate batch, not a refused one).
        self.stored = tuple(i for i, outcome in enumerate(result.batches)
                            if outcome.status == "ok" and not outcome.duplicate_batch)
        self._batches: list[BatchColumns] | None = None
        # Rows per (filter, limit): subscribers asking the same get the same list.
        self._rows: dict[tuple[ReadingFilter, int], tuple[list[dict[str, Any]], int]] = {}

    def release(self) -> None:
        """Drop what was decoded for the subscribers: the ring keeps only the payload."""
        self._batches = None
        self._rows = {}

    @property
    def has_readings(self) -> bool:
        return bool(self.stored)

    def batches(self) -> list[BatchColumns]:
        """The stored batches' columns, decoded on first use."""
        if self._batches is None:
            self._batches = _decode(self.payload, self.stored) if self.stored else []
        return self._batches

    def readings(self, wanted: ReadingFilter, limit: int) -> tuple[list[dict[str, Any]], int]:
        """(up to `limit` matching readings as JSON rows, how many matched in all)."""
        key = (wanted, limit)
        if key not in self._rows:
            self._rows[key] = self._matching(wanted, limit)
        return self._rows[key]

    def _matching(self, wanted: ReadingFilter, limit: int) -> tuple[list[dict[str, Any]], int]:
        rows: list[dict[str, Any]] = []
        matched = 0
        for columns in self.batches():
            keep = [i for i, name in enumerate(columns.metrics)
                    if not wanted.metrics or name in wanted.metrics]
            if not keep:
                continue
            names = [columns.metrics[m] for m in keep]
            present = ~np.isnan(columns.values[keep])  # (kept metrics, readings)
            start = 0
            for sensor, count, location in zip(columns.sensors, columns.counts.tolist(),
                                               columns.locations, strict=True):
                end = start + count
                if wanted.wants_group(sensor, location):
                    hits = np.flatnonzero(present[:, start:end].any(axis=0)) + start
                    matched += int(hits.shape[0])
                    for at in hits[:max(0, limit - len(rows))].tolist():
                        ts = int(columns.ts[at])
                        rows.append({"sensor_id": sensor, "timestamp": format_timestamp(ts),
                                     "timestamp_us": ts, "location": location,
                                     "values": {name: float(columns.values[m, at])
                                                for row, (name, m) in enumerate(zip(names, keep,
                                                                                    strict=True))
                                                if present[row, at]}})
                start = end
        return rows, matched


def _decode(payload: bytes, stored: tuple[int, ...]) -> list[BatchColumns]:
    try:
        op, body = decode_envelope(payload)
        if op != OP_INGEST:
            return []
        return [decode_columns(body[i][2]) for i in stored]
    except (ValueError, IndexError, TypeError):  # apply refused it too: nothing was stored
        return []
