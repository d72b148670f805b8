"""The replicated IoT state machine: pure and deterministic (no pysyncobj, no aiohttp).

`apply(entry)` is called with every committed log entry, in log order, on every node; it never
raises (a bad command becomes an error result). The same entries always give the same
state, the same results and the same `digest()` on every node.

Thread model: apply runs on the Raft thread, reads on the HTTP thread. `lock` guards every
mutation; readers hold it only long enough to take immutable views (see series.py).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from lithair_node.machine import stats
from lithair_node.machine.aggregates import CellAggregates
from lithair_node.machine.anomalies import Anomaly, AnomalyDetector, AnomalySettings, SettingsError
from lithair_node.machine.commands import (
    OP_ANNOUNCE,
    OP_BARRIER,
    OP_INGEST,
    OP_SETTINGS,
    BatchColumns,
    decode_columns,
    decode_envelope,
    merge_columns,
)
from lithair_node.machine.digest import MASK64, cells_hash, text_hash
from lithair_node.machine.idempotency import BatchResult, KeyTable
from lithair_node.machine.locations import LocationIndex
from lithair_node.machine.series import SensorSeries, SeriesView

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LogEntry:
    index: int
    term: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What apply decided for one client batch."""

    status: str  # "ok" | "key_reused" | "invalid"
    result: BatchResult | None = None
    duplicate_batch: bool = False
    message: str = ""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    index: int
    term: int
    batches: tuple[BatchOutcome, ...] = ()
    error: str | None = None  # set when the whole entry was refused (a bug or a bad peer)


@dataclass
class Counters:
    total_readings: int = 0
    duplicate_readings: int = 0
    batches_accepted: int = 0
    duplicate_batches: int = 0
    entries_applied: int = 0
    applied_index: int = 0
    applied_term: int = 0


@dataclass(frozen=True)
class StateView:
    """Everything a snapshot needs, captured under the lock, safe to use outside it."""

    counters: Counters
    metric_names: tuple[str, ...]
    keys: list[list[object]]
    members: dict[str, dict[str, str]]
    series: list[SeriesView]
    aggregates: list[np.ndarray]  # per series: stats of its cells, shape (5, rows)
    hashes: dict[str, int] = field(default_factory=dict)
    anomalies: dict[str, Any] = field(default_factory=dict)  # AnomalyDetector.export()


@dataclass(frozen=True)
class ReadView:
    """What a query reads, taken at one applied index: immutable, used outside the lock."""

    applied_index: int
    views: list[SeriesView]  # of the known sensors among those asked, in the order asked
    metric_names: list[str]  # metric id -> name
    running: list[np.ndarray] | None = None  # per view: its running stats, (5, rows)


class StateMachine:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._reset()

    def _reset(self) -> None:
        self.counters = Counters()
        self._series: dict[str, SensorSeries] = {}
        self._metric_names: list[str] = []
        self._metric_ids: dict[str, int] = {}
        self._metric_hashes: list[int] = []
        self._aggregates = CellAggregates()
        self._keys = KeyTable()
        self._members: dict[str, dict[str, str]] = {}
        self._readings_hash = 0
        self._locations_hash = 0
        self._anomalies = AnomalyDetector()
        self._location_index = LocationIndex()

    # -- apply ---------------------------------------------------------------------------

    def apply(self, entry: LogEntry) -> ApplyResult:
        with self.lock:
            try:
                return self._apply(entry)
            except Exception as exc:  # never let one entry poison the cluster
                log.exception("apply failed at index %d", entry.index)
                return ApplyResult(entry.index, entry.term, error=f"apply failed: {exc!r}")
            finally:
                self.counters.entries_applied += 1
                self.counters.applied_index = entry.index
                self.counters.applied_term = entry.term

    def _apply(self, entry: LogEntry) -> ApplyResult:
        try:
            op, body = decode_envelope(entry.payload)
        except ValueError as exc:
            return ApplyResult(entry.index, entry.term, error=str(exc))
        if op == OP_INGEST:
            if not isinstance(body, list):
                return ApplyResult(entry.index, entry.term, error="ingest body must be an array")
            return ApplyResult(entry.index, entry.term, batches=self._apply_ingest(body, entry))
        if op == OP_ANNOUNCE:
            return self._apply_announce(body, entry)
        if op == OP_SETTINGS:
            return self._apply_settings(body, entry)
        assert op == OP_BARRIER
        return ApplyResult(entry.index, entry.term)

    def _apply_announce(self, body: Any, entry: LogEntry) -> ApplyResult:
        if not (isinstance(body, dict) and all(isinstance(body.get(k), str)
                                               for k in ("raft", "node_id", "http"))):
            return ApplyResult(entry.index, entry.term, error="malformed announce")
        self._members[body["raft"]] = {"node_id": body["node_id"], "http": body["http"]}
        return ApplyResult(entry.index, entry.term)

    def _apply_settings(self, body: Any, entry: LogEntry) -> ApplyResult:
        if not (isinstance(body, dict) and set(body) == {"anomalies"}):
            return ApplyResult(entry.index, entry.term, error='settings must be {"anomalies": {...}}')
        try:
            self._anomalies.configure(body["anomalies"])
        except SettingsError as exc:
            return ApplyResult(entry.index, entry.term, error=str(exc))
        return ApplyResult(entry.index, entry.term)

    def _apply_ingest(self, items: list[Any], entry: LogEntry) -> tuple[BatchOutcome, ...]:
        """Apply the client batches of one entry (group commit). Keys are checked in order;
        the batches to store are stored together (see _store_batches). Outcomes are those of
        applying the batches one after the other, except that keys evicted from the key
        table by this entry's own batches are still recognised within the entry."""
        outcomes: list[BatchOutcome | None] = [None] * len(items)
        fresh: list[tuple[int, str | None, bytes, BatchColumns]] = []
        first_here: dict[str, tuple[bytes, int]] = {}  # keys of batches stored by this entry
        repeats: list[tuple[int, int]] = []  # (position, position of the same key's batch)
        for position, item in enumerate(items):
            if not (isinstance(item, list) and len(item) == 3):
                outcomes[position] = BatchOutcome("invalid",
                                                  message="batch must be [key, fingerprint, columns]")
                continue
            key, fingerprint, raw_columns = item
            if not (key is None or isinstance(key, str)) or not isinstance(fingerprint, bytes):
                outcomes[position] = BatchOutcome("invalid", message="bad key or fingerprint")
                continue
            if key is not None:
                prior = self._keys.get(key)
                here = first_here.get(key)
                known_fp = prior[0] if prior is not None else here[0] if here is not None else None
                if known_fp is not None:
                    if known_fp != fingerprint:
                        outcomes[position] = BatchOutcome(
                            "key_reused",
                            message=f"Idempotency-Key {key!r} was used for a different batch",
                        )
                    else:
                        self.counters.duplicate_batches += 1
                        if prior is not None:
                            outcomes[position] = BatchOutcome("ok", prior[1], duplicate_batch=True)
                        else:
                            assert here is not None
                            repeats.append((position, here[1]))
                    continue
            try:
                columns = decode_columns(raw_columns)
            except ValueError as exc:
                outcomes[position] = BatchOutcome("invalid", message=str(exc))
                continue
            if key is not None:
                first_here[key] = (fingerprint, position)
            fresh.append((position, key, fingerprint, columns))
        stored = self._store_batches([columns for *_, columns in fresh], entry.index)
        for (position, key, fingerprint, columns), accepted in zip(fresh, stored, strict=True):
            duplicates = columns.readings - accepted + columns.in_batch_duplicates
            result = BatchResult(accepted, duplicates, entry.index, entry.term)
            self.counters.total_readings += accepted
            self.counters.duplicate_readings += duplicates
            self.counters.batches_accepted += 1
            if key is not None:
                self._keys.put(key, fingerprint, result)
            outcomes[position] = BatchOutcome("ok", result)
        for position, first in repeats:
            original = outcomes[first]
            assert original is not None
            outcomes[position] = BatchOutcome("ok", original.result, duplicate_batch=True)
        return tuple(o if o is not None else BatchOutcome("invalid", message="not applied")
                     for o in outcomes)

    def _store_batches(self, batches: list[BatchColumns], raft_index: int) -> list[int]:
        """Store several batches; return how many readings of each were stored. Batches that
        share sensors are merged first, so each sensor costs one pass of apply's per-sensor
        loop per entry instead of one per batch (small batches of one gateway's sensors,
        grouped by group commit, are the common case)."""
        if len(batches) > 1 and len(set().union(*(b.sensors for b in batches))) < sum(
            len(b.sensors) for b in batches
        ):
            merged, origin = merge_columns(batches)
            keep = self._store_mask(merged, raft_index)
            kept = origin if keep is None else origin[keep]
            return np.bincount(kept, minlength=len(batches)).tolist()
        return [self._store(columns, raft_index) for columns in batches]

    def _store(self, columns: BatchColumns, raft_index: int) -> int:
        """Store the readings of a batch that are not stored yet; return how many."""
        keep = self._store_mask(columns, raft_index)
        return columns.readings if keep is None else int(keep.sum())

    def _store_mask(self, columns: BatchColumns, raft_index: int) -> np.ndarray | None:
        """Store the readings of a batch that are not stored yet; return which were stored
        (None: all of them)."""
        n_groups = len(columns.sensors)
        if not n_groups:
            return None
        counts = columns.counts.astype(np.int64)
        ends = np.cumsum(counts)
        starts = ends - counts
        metric_ids = [self._metric_id(name) for name in columns.metrics]
        metric_count = len(metric_ids)
        values, ts = columns.values, columns.ts
        present = ~np.isnan(values)
        group_has = None if present.all() else np.logical_or.reduceat(present, starts, axis=1)
        all_metrics = tuple(metric_ids)
        if group_has is not None:
            cell_of = np.full((metric_count, n_groups), -1, dtype=np.int64)
        group_cells: list[np.ndarray] = []
        keep_parts: list[np.ndarray | None] = []
        group_hashes: list[int] = []
        new_cell = self._aggregates.new_cell
        series_of = self._series
        # The per-sensor loop is apply's hot path: one dict lookup, one cached row plan and
        # one slice copy per sensor; everything per reading is vectorised over the batch.
        for g, (sensor_id, location, a, b) in enumerate(
            zip(columns.sensors, columns.locations, starts.tolist(), ends.tolist(), strict=True)
        ):
            series = series_of.get(sensor_id)
            if series is None:
                series = self._new_series(sensor_id)
            if location is not None and location != series.location:
                self._set_location(series, location)
            if group_has is None:
                plan = series.plan_for(all_metrics, new_cell)
                group_cells.append(plan.cells)
                block = values[:, a:b]
            else:
                batch_rows = np.flatnonzero(group_has[:, g])
                plan = series.plan_for(tuple(metric_ids[j] for j in batch_rows.tolist()), new_cell)
                cell_of[batch_rows, g] = plan.cells
                block = values[batch_rows, a:b]
            keep_parts.append(series.insert(ts[a:b], plan.rows, block, plan.full))
            group_hashes.append(series.hash)
        if group_has is None:
            cell_of = np.stack(group_cells, axis=1)
        keep: np.ndarray | None = None
        if any(part is not None for part in keep_parts):
            keep = np.concatenate([
                np.ones(int(counts[g]), dtype=bool) if part is None else part
                for g, part in enumerate(keep_parts)
            ])
            counts = np.add.reduceat(keep.astype(np.int64), starts)
            ts, values = ts[keep], values[:, keep]
        stored = int(ts.shape[0])
        if stored:
            # Before the fold: readings are judged against the statistics preceding them.
            self._anomalies.observe(columns.sensors, counts, cell_of, ts, values,
                                    self._aggregates.running(), columns.metrics, raft_index)
            self._fold_statistics(values, counts, cell_of)
            metric_hashes = np.asarray([self._metric_hashes[m] for m in metric_ids], dtype=np.uint64)
            sensor_hashes = np.repeat(np.asarray(group_hashes, dtype=np.uint64), counts)
            self._readings_hash = (
                self._readings_hash + cells_hash(sensor_hashes, ts, metric_hashes, values)
            ) & MASK64
        return keep

    def _fold_statistics(self, values: np.ndarray, counts: np.ndarray, cell_of: np.ndarray) -> None:
        nonempty = counts > 0
        if not nonempty.all():
            cell_of, counts = cell_of[:, nonempty], counts[nonempty]
        starts = np.cumsum(counts) - counts
        partials = stats.grouped(values, starts)
        mask = (partials[0] > 0) & (cell_of >= 0)
        self._aggregates.merge(cell_of[mask], [row[mask] for row in partials])

    def _new_series(self, sensor_id: str) -> SensorSeries:
        series = SensorSeries(sensor_id, len(self._series), text_hash(sensor_id))
        self._series[sensor_id] = series
        return series

    def _set_location(self, series: SensorSeries, location: str) -> None:
        self._location_index.move(series.sensor_id, series.location, location)
        if series.location is not None:
            self._locations_hash -= text_hash(f"{series.sensor_id}\x00{series.location}")
        series.location = location
        self._locations_hash = (
            self._locations_hash + text_hash(f"{series.sensor_id}\x00{location}")
        ) & MASK64

    def _metric_id(self, name: str) -> int:
        metric_id = self._metric_ids.get(name)
        if metric_id is None:
            metric_id = self._metric_ids[name] = len(self._metric_names)
            self._metric_names.append(name)
            self._metric_hashes.append(text_hash(name))
        return metric_id

    # -- reads ---------------------------------------------------------------------------

    def digest(self) -> str:
        """Hash of the canonical state: equal on nodes holding the same data."""
        with self.lock:
            c = self.counters
            parts = [
                self._readings_hash,
                self._keys.hash_sum,
                self._locations_hash & MASK64,
                c.total_readings,
                c.duplicate_readings,
                c.batches_accepted,
                len(self._series),
                self._anomalies.hash,
            ]
        return hashlib.blake2b(msgpack.packb(parts), digest_size=16).hexdigest()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            c = self.counters
            return {
                "total_readings": c.total_readings,
                # A series exists only once it has stored a reading.
                "active_sensors": len(self._series),
                "duplicate_readings": c.duplicate_readings,
                "batches_accepted": c.batches_accepted,
                "duplicate_batches": c.duplicate_batches,
                "idempotency_keys": len(self._keys),
                "metrics": len(self._metric_names),
                "state_applied_index": c.applied_index,
            }

    def series_view(self, sensor_id: str) -> SeriesView | None:
        with self.lock:
            series = self._series.get(sensor_id)
            return None if series is None else series.view()

    def metric_names(self) -> list[str]:
        with self.lock:
            return list(self._metric_names)

    def cell_stats(self, cells: tuple[int, ...]) -> np.ndarray:
        with self.lock:
            return self._aggregates.export(np.asarray(cells, dtype=np.int64))

    def members(self) -> dict[str, dict[str, str]]:
        with self.lock:
            return {addr: dict(info) for addr, info in self._members.items()}

    # -- query accessors (queries/): views taken under the lock, computed outside it ------

    @property
    def applied_index(self) -> int:
        with self.lock:
            return self.counters.applied_index

    def views(self, sensor_ids: list[str]) -> tuple[int, list[SeriesView]]:
        """(applied index, views of the known sensors among `sensor_ids`), taken together."""
        with self.lock:
            found = [self._series.get(s) for s in sensor_ids]
            return self.counters.applied_index, [s.view() for s in found if s is not None]

    def read(self, sensor_ids: Iterable[str], *, running: bool = False) -> ReadView:
        """Views of the known sensors among `sensor_ids`, the metric names and (`running`)
        each view's running aggregates, all at one applied index: the one way queries read
        the state, so no caller ever holds the lock."""
        with self.lock:
            found = [s for s in map(self._series.get, sensor_ids) if s is not None]
            views = [s.view() for s in found]
            stats = ([self._aggregates.export(np.asarray(v.cells, dtype=np.int64)) for v in views]
                     if running else None)
            return ReadView(self.counters.applied_index, views, list(self._metric_names), stats)

    def sensor_ids_since(self, start: int) -> list[str]:
        """Sensor ids from creation position `start` on (creation order is the same on every
        node and survives restore)."""
        with self.lock:
            return list(itertools.islice(self._series, start, None))

    def locations(self) -> tuple[int, dict[str, list[str]]]:
        """(applied index, {location: sensors}), both sorted (outside the lock)."""
        with self.lock:
            index, raw = self.counters.applied_index, self._location_index.copy()
        return index, {location: sorted(raw[location]) for location in sorted(raw)}

    def sensors_at(self, location: str) -> list[str]:
        with self.lock:
            return self._location_index.sensors_at(location)

    def anomalies(self) -> tuple[int, AnomalySettings, int, list[Anomaly]]:
        """(applied index, settings, total ever reported, buffered anomalies oldest first)."""
        with self.lock:
            detector = self._anomalies
            return (self.counters.applied_index, detector.settings, detector.total,
                    detector.records())

    # -- snapshot / restore ---------------------------------------------------------------

    def capture(self) -> StateView:
        """O(sensors + keys) under the lock; the bulk data is shared, never copied."""
        with self.lock:
            ordered = sorted(self._series.values(), key=lambda s: s.index)
            return StateView(
                counters=Counters(**vars(self.counters)),
                metric_names=tuple(self._metric_names),
                keys=self._keys.export(),
                members=self.members(),
                series=[s.view() for s in ordered],
                aggregates=[
                    self._aggregates.export(np.asarray(s.cells, dtype=np.int64)) for s in ordered
                ],
                hashes={"readings": self._readings_hash, "locations": self._locations_hash},
                anomalies=self._anomalies.export(),
            )

    def load(self, view: StateView) -> None:
        """Replace the whole state with a captured one (used by restore)."""
        with self.lock:
            self._reset()
            self.counters = Counters(**vars(view.counters))
            for name in view.metric_names:
                self._metric_id(name)
            self._keys.load(view.keys)
            self._members = {a: dict(i) for a, i in view.members.items()}
            for index, (series_view, stats) in enumerate(
                zip(view.series, view.aggregates, strict=True)
            ):
                cells = self._aggregates.load(stats)
                rebuilt = SeriesView(
                    series_view.sensor_id, series_view.location, series_view.metric_ids,
                    tuple(int(c) for c in cells), series_view.base_ts, series_view.base_values,
                    series_view.delta_ts, series_view.delta_values,
                )
                series = SensorSeries.restore(rebuilt, index, text_hash(series_view.sensor_id))
                self._series[series.sensor_id] = series
                if series.location is not None:
                    self._location_index.move(series.sensor_id, None, series.location)
            self._anomalies.load(view.anomalies)
            # Stored with the snapshot rather than recomputed: restore stays O(sensors).
            self._readings_hash = view.hashes["readings"]
            self._locations_hash = view.hashes["locations"]

    def snapshot(self) -> bytes:
        """The whole state as bytes (snapshot_file format)."""
        from lithair_node.machine.snapshot_file import dump_bytes

        return dump_bytes(self.capture(), raft_meta={})

    def restore(self, data: bytes) -> dict[str, Any]:
        """Load state from snapshot() bytes; returns the Raft metadata stored with it."""
        from lithair_node.machine.snapshot_file import load_bytes

        view, raft_meta = load_bytes(data)
        self.load(view)
        return raft_meta
