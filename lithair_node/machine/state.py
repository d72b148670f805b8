"""The replicated IoT state machine: pure and deterministic (no pysyncobj, no aiohttp).

`apply(entry)` is called with every committed log entry, in log order, on every node; it never
raises (a bad command becomes an error result). The same entries always give the same
state, the same results and the same `digest()` on every node.

Thread model: apply runs on the Raft thread, reads on the HTTP thread. `lock` guards every
mutation; readers hold it only long enough to take immutable views (engine.EngineView), inside
the methods below, never themselves. It is a plain Lock: no method takes it twice.

The data lives in one Tables object (tables.py); ingest.py applies readings to it and
capture.py copies it to and from a StateView for snapshots.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from lithair_node.machine import capture as state_capture
from lithair_node.machine import snapshot_file
from lithair_node.machine.anomalies import Anomaly, AnomalySettings, SettingsError
from lithair_node.machine.capture import StateView
from lithair_node.machine.commands import (
    OP_ANNOUNCE,
    OP_BARRIER,
    OP_COLD,
    OP_INGEST,
    OP_LIFECYCLE,
    OP_SETTINGS,
    OP_TICK,
    BatchColumns,
    MetricLimits,
    decode_envelope,
)
from lithair_node.machine.digest import MASK64
from lithair_node.machine.engine.limits import LimitCheck
from lithair_node.machine.engine.sealing import Builder
from lithair_node.machine.engine.sensor_view import (
    SensorView,
    every_cell_running,
    sensor_view,
    sensor_views,
)
from lithair_node.machine.entries import ApplyResult, LogEntry
from lithair_node.machine.ingest import apply_ingest
from lithair_node.machine.lifecycle import codec as lifecycle_codec
from lithair_node.machine.lifecycle import cold as lifecycle_cold
from lithair_node.machine.lifecycle import reads as lifecycle_reads
from lithair_node.machine.lifecycle.policy import PolicyError, parse_policy
from lithair_node.machine.tables import Tables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadView:
    """What a query reads, taken at one applied index: immutable, used outside the lock."""

    applied_index: int
    views: list[SensorView]  # of the known sensors among those asked, in the order asked
    metric_names: list[str]  # metric id -> name
    running: list[np.ndarray] | None = None  # per view: its running stats, (5, metrics)


class StateMachine:
    def __init__(self, builder: Builder | None = None, compaction: bool | None = None) -> None:
        """`builder`: where sealed segments are built (engine/sealing.py; None: the
        process's builder thread); tests hold builds pending with their own. `compaction`:
        merge sealed segments (engine/compaction.py; None: its default)."""
        self.lock = threading.Lock()
        self._builder = builder
        self._compaction = compaction
        self._tables = Tables()
        self._own(self._tables)

    def _own(self, tables: Tables) -> None:
        """This node's settings on an engine, new or restored (they are not state)."""
        if self._builder is not None:
            tables.engine.builder = self._builder
        tables.engine.compaction = self._compaction

    # -- apply ---------------------------------------------------------------------------

    def apply(self, entry: LogEntry) -> ApplyResult:
        with self.lock:
            counters = self._tables.counters
            try:
                return self._apply(entry)
            except Exception as exc:  # never let one entry poison the cluster
                log.exception("apply failed at index %d", entry.index)
                return ApplyResult(entry.index, entry.term, error=f"apply failed: {exc!r}")
            finally:
                counters.entries_applied += 1
                counters.applied_index = entry.index
                counters.applied_term = entry.term

    def _apply(self, entry: LogEntry) -> ApplyResult:
        try:
            op, body = decode_envelope(entry.payload)
        except ValueError as exc:
            return ApplyResult(entry.index, entry.term, error=str(exc))
        if op == OP_INGEST:
            if not isinstance(body, list):
                return ApplyResult(entry.index, entry.term, error="ingest body must be an array")
            return ApplyResult(entry.index, entry.term,
                               batches=apply_ingest(self._tables, body, entry))
        if op == OP_ANNOUNCE:
            return self._apply_announce(body, entry)
        if op == OP_SETTINGS:
            return self._apply_settings(body, entry)
        if op in (OP_LIFECYCLE, OP_TICK):
            return self._apply_lifecycle(op, body, entry)
        if op == OP_COLD:
            t = self._tables
            dropped, error = lifecycle_cold.apply(t.engine, t.lifecycle.cold, body,
                                                  entry.term)
            t.counters.total_readings -= dropped  # counts what memory holds
            return ApplyResult(entry.index, entry.term, error=error)
        assert op == OP_BARRIER
        return ApplyResult(entry.index, entry.term)

    def _apply_announce(self, body: Any, entry: LogEntry) -> ApplyResult:
        if not (isinstance(body, dict) and all(isinstance(body.get(k), str)
                                               for k in ("raft", "node_id", "http"))):
            return ApplyResult(entry.index, entry.term, error="malformed announce")
        self._tables.members[body["raft"]] = {"node_id": body["node_id"], "http": body["http"]}
        return ApplyResult(entry.index, entry.term)

    def _apply_settings(self, body: Any, entry: LogEntry) -> ApplyResult:
        if not (isinstance(body, dict) and set(body) == {"anomalies"}):
            return ApplyResult(entry.index, entry.term, error='settings must be {"anomalies": {...}}')
        try:
            self._tables.anomalies.configure(body["anomalies"])
        except SettingsError as exc:
            return ApplyResult(entry.index, entry.term, error=str(exc))
        return ApplyResult(entry.index, entry.term)

    def _apply_lifecycle(self, op: str, body: Any, entry: LogEntry) -> ApplyResult:
        t = self._tables
        if op == OP_TICK:
            if type(body) is not int or not 0 <= body < 1 << 53:
                return ApplyResult(entry.index, entry.term, error="tick must be a clock in ms")
            dropped = t.lifecycle.tick(t.engine, body).raw_dropped
            t.counters.total_readings -= dropped  # counts what is held (DESIGN: How data ages)
            return ApplyResult(entry.index, entry.term)
        try:
            policy = parse_policy(body)
        except PolicyError as exc:
            return ApplyResult(entry.index, entry.term, error=str(exc))
        t.lifecycle.set_policy(t.engine, policy)
        return ApplyResult(entry.index, entry.term)

    # -- reads ---------------------------------------------------------------------------

    def metric_limit_refusal(self, columns: BatchColumns, limits: MetricLimits) -> str | None:
        """Why the batch would go beyond a metric-name limit now (the receiving node's early
        check; apply checks again against the state the entry meets). None, unchecked, while
        apply holds the lock: the caller is the event loop, which must not wait for an entry
        to apply (2.3% of a leader's samples did), and apply's own check refuses the batch."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            return LimitCheck(self._tables.engine).refusal(columns, limits)
        finally:
            self.lock.release()

    def digest(self) -> str:
        """Hash of the canonical state: equal on nodes holding the same data."""
        with self.lock:
            t = self._tables
            c = t.counters
            parts = [
                t.engine.readings_hash,
                t.keys.hash_sum,
                t.locations_hash & MASK64,
                c.total_readings,
                c.duplicate_readings,
                c.batches_accepted,
                len(t.engine.sensors),
                t.anomalies.hash,
            ]
            if not lifecycle_codec.is_empty(t.lifecycle):  # digests of older states unchanged
                parts.append(lifecycle_codec.digest_part(t.lifecycle))
        return hashlib.blake2b(msgpack.packb(parts), digest_size=16).hexdigest()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            t = self._tables
            c = t.counters
            return {
                "total_readings": c.total_readings,
                # A series exists only once it has stored a reading.
                "active_sensors": len(t.engine.sensors),
                "duplicate_readings": c.duplicate_readings,
                "batches_accepted": c.batches_accepted,
                "duplicate_batches": c.duplicate_batches,
                "idempotency_keys": len(t.keys),
                "metrics": len(t.engine.metrics),
                "state_applied_index": c.applied_index,
                "expired_readings": t.lifecycle.expired_readings,
                "cold_readings": t.lifecycle.cold.readings,
            }

    def series_view(self, sensor_id: str) -> SensorView | None:
        with self.lock:
            engine = self._tables.engine
            return sensor_view(engine, engine.view(), sensor_id)

    def metric_names(self) -> list[str]:
        with self.lock:
            return list(self._tables.engine.metrics.names)

    def cell_stats(self, cells: tuple[int, ...]) -> np.ndarray:
        with self.lock:
            return self._tables.engine.running.export(np.asarray(cells, dtype=np.int64))

    def members(self) -> dict[str, dict[str, str]]:
        with self.lock:
            return {addr: dict(info) for addr, info in self._tables.members.items()}

    # -- query accessors (queries/): views taken under the lock, computed outside it ------

    @property
    def applied_index(self) -> int:
        with self.lock:
            return self._tables.counters.applied_index

    def views(self, sensor_ids: list[str]) -> tuple[int, list[SensorView]]:
        """(applied index, views of the known sensors among `sensor_ids`), taken together."""
        read = self.read(sensor_ids)
        return read.applied_index, read.views

    def read(self, sensor_ids: Iterable[str], *, running: bool = False) -> ReadView:
        """Views of the known sensors among `sensor_ids`, the metric names and (`running`)
        each view's running aggregates, all at one applied index: the one way queries read
        the state, so no caller ever holds the lock."""
        with self.lock:
            t = self._tables
            engine = t.engine
            picture = engine.view()
            views = sensor_views(engine, picture, list(sensor_ids))
            stats = ([engine.running.export(np.asarray(v.cells, dtype=np.int64)) for v in views]
                     if running else None)
            return ReadView(t.counters.applied_index, views, list(engine.metrics.names), stats)

    def running_by_metric(self) -> tuple[int, list[str], np.ndarray, np.ndarray]:
        """(applied index, metric names, every cell's running stats (5, cells), each cell's
        metric id): read(every sensor, running=True) without the per-sensor views."""
        with self.lock:
            t = self._tables
            return (t.counters.applied_index, list(t.engine.metrics.names),
                    *every_cell_running(t.engine))

    def sensor_ids_since(self, start: int) -> list[str]:
        """Sensor ids from creation position `start` on (creation order is the same on every
        node and survives restore)."""
        with self.lock:
            return self._tables.engine.sensors.names[start:]

    def locations(self) -> tuple[int, dict[str, list[str]]]:
        """(applied index, {location: sensors}), both sorted (outside the lock)."""
        with self.lock:
            index = self._tables.counters.applied_index
            raw = self._tables.location_index.copy()
        return index, {location: sorted(raw[location]) for location in sorted(raw)}

    def sensors_at(self, location: str) -> list[str]:
        with self.lock:
            return self._tables.location_index.sensors_at(location)

    def anomalies(self) -> tuple[int, AnomalySettings, int, list[Anomaly]]:
        """(applied index, settings, total ever reported, buffered anomalies oldest first)."""
        with self.lock:
            detector = self._tables.anomalies
            return (self._tables.counters.applied_index, detector.settings, detector.total,
                    detector.records())

    def lifecycle(self) -> lifecycle_reads.LifecycleView:
        with self.lock:
            return lifecycle_reads.view(self._tables, self._tables.counters.applied_index)

    def rollup_parts(self, sensor_ids: list[str], metric: str, width: int, start: int,
                     end: int) -> lifecycle_reads.RollupParts | None:
        """The `width` rollup rows of (sensors, metric) in [start, end), copied under the
        lock; None unless every such cell keeps that rollup."""
        with self.lock:
            return lifecycle_reads.rollup_parts(self._tables, sensor_ids, metric, width,
                                                start, end)

    def tier_due(self) -> dict[str, int]:
        """{sensor id: cutoff us}: sensors holding raw readings older than their rule's
        tier_after (for the cold-tier mover, built separately)."""
        with self.lock:
            return lifecycle_reads.tier_due(self._tables)

    def cold_manifest(self) -> lifecycle_reads.ColdView:
        """The cold tier's file list and per-sensor cutoffs (O(1): shared, never mutated)."""
        with self.lock:
            return lifecycle_reads.cold_view(self._tables, self._tables.counters.applied_index)

    # -- snapshot / restore ---------------------------------------------------------------

    def capture(self) -> StateView:
        """O(sensors + keys) under the lock; the bulk data is shared, never copied."""
        with self.lock:
            return state_capture.capture(self._tables)

    def capture_unpacked(self, split_hot: bool = False) -> Callable[[], StateView]:
        """capture() with the engine blob packed by the function returned, outside the lock
        (O(sensors + cells + keys) under it; the hot buffer is shared). split_hot: its
        columns in StateView.hot, outside the blob (capture.capture_unpacked)."""
        with self.lock:
            return state_capture.capture_unpacked(self._tables, split_hot)

    def load(self, view: StateView) -> None:
        """Replace the whole state with a captured one (used by restore)."""
        tables = state_capture.load(view)  # built outside the lock: apply is not held up
        self._own(tables)
        with self.lock:
            self._tables = tables

    def snapshot(self) -> bytes:
        """The whole state as bytes (snapshot_file format)."""
        return snapshot_file.dump_bytes(self.capture(), raft_meta={})

    def restore(self, data: bytes) -> dict[str, Any]:
        """Load state from snapshot() bytes; returns the Raft metadata stored with it."""
        view, raft_meta = snapshot_file.load_bytes(data)
        self.load(view)
        return raft_meta
