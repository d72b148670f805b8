"""Apply of an ingest entry: idempotency keys, then the readings stored, their statistics
folded and the readings hash updated (apply's hot path).

Everything per reading is vectorised over the entry; the one Python loop runs per sensor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lithair_node.machine import stats
from lithair_node.machine.commands import BatchColumns, decode_columns, merge_columns
from lithair_node.machine.digest import MASK64, cells_hash
from lithair_node.machine.entries import BatchOutcome, LogEntry
from lithair_node.machine.idempotency import BatchResult
from lithair_node.machine.tables import Tables


def apply_ingest(tables: Tables, items: list[Any], entry: LogEntry) -> tuple[BatchOutcome, ...]:
    """Apply the client batches of one entry (group commit). Keys are checked in order;
    the batches to store are stored together (see _store_batches). Outcomes are those of
    applying the batches one after the other, except that keys evicted from the key
    table by this entry's own batches are still recognised within the entry."""
    counters = tables.counters
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
            prior = tables.keys.get(key)
            here = first_here.get(key)
            known_fp = prior[0] if prior is not None else here[0] if here is not None else None
            if known_fp is not None:
                if known_fp != fingerprint:
                    outcomes[position] = BatchOutcome(
                        "key_reused",
                        message=f"Idempotency-Key {key!r} was used for a different batch",
                    )
                else:
                    counters.duplicate_batches += 1
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
    stored = _store_batches(tables, [columns for *_, columns in fresh], entry.index)
    for (position, key, fingerprint, columns), accepted in zip(fresh, stored, strict=True):
        duplicates = columns.readings - accepted + columns.in_batch_duplicates
        result = BatchResult(accepted, duplicates, entry.index, entry.term)
        counters.total_readings += accepted
        counters.duplicate_readings += duplicates
        counters.batches_accepted += 1
        if key is not None:
            tables.keys.put(key, fingerprint, result)
        outcomes[position] = BatchOutcome("ok", result)
    for position, first in repeats:
        original = outcomes[first]
        assert original is not None
        outcomes[position] = BatchOutcome("ok", original.result, duplicate_batch=True)
    return tuple(o if o is not None else BatchOutcome("invalid", message="not applied")
                 for o in outcomes)


def _store_batches(tables: Tables, batches: list[BatchColumns], raft_index: int) -> list[int]:
    """Store several batches; return how many readings of each were stored. Batches that
    share sensors are merged first, so each sensor costs one pass of the per-sensor loop
    per entry instead of one per batch (small batches of one gateway's sensors, grouped by
    group commit, are the common case)."""
    if len(batches) > 1 and len(set().union(*(b.sensors for b in batches))) < sum(
        len(b.sensors) for b in batches
    ):
        merged, origin = merge_columns(batches)
        keep = _store(tables, merged, raft_index)
        kept = origin if keep is None else origin[keep]
        return np.bincount(kept, minlength=len(batches)).tolist()
    stored = []
    for columns in batches:
        keep = _store(tables, columns, raft_index)
        stored.append(columns.readings if keep is None else int(keep.sum()))
    return stored


def _store(tables: Tables, columns: BatchColumns, raft_index: int) -> np.ndarray | None:
    """Store the readings of a batch that are not stored yet; return which were stored
    (None: all of them)."""
    n_groups = len(columns.sensors)
    if not n_groups:
        return None
    counts = columns.counts.astype(np.int64)
    ends = np.cumsum(counts)
    starts = ends - counts
    metric_ids = [tables.metric_id(name) for name in columns.metrics]
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
    new_cell = tables.aggregates.new_cell
    series_of = tables.series
    # The per-sensor loop is apply's hot path: one dict lookup, one cached row plan and
    # one slice copy per sensor; everything per reading is vectorised over the batch.
    for g, (sensor_id, location, a, b) in enumerate(
        zip(columns.sensors, columns.locations, starts.tolist(), ends.tolist(), strict=True)
    ):
        series = series_of.get(sensor_id)
        if series is None:
            series = tables.new_series(sensor_id)
        if location is not None and location != series.location:
            tables.set_location(series, location)
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
    if ts.shape[0]:
        # Before the fold: readings are judged against the statistics preceding them.
        tables.anomalies.observe(columns.sensors, counts, cell_of, ts, values,
                                 tables.aggregates.running(), columns.metrics, raft_index)
        _fold_statistics(tables, values, counts, cell_of)
        metric_hashes = np.asarray([tables.metric_hashes[m] for m in metric_ids], dtype=np.uint64)
        sensor_hashes = np.repeat(np.asarray(group_hashes, dtype=np.uint64), counts)
        tables.readings_hash = (
            tables.readings_hash + cells_hash(sensor_hashes, ts, metric_hashes, values)
        ) & MASK64
    return keep


def _fold_statistics(tables: Tables, values: np.ndarray, counts: np.ndarray,
                     cell_of: np.ndarray) -> None:
    nonempty = counts > 0
    if not nonempty.all():
        cell_of, counts = cell_of[:, nonempty], counts[nonempty]
    partials = stats.grouped(values, np.cumsum(counts) - counts)
    mask = (partials[0] > 0) & (cell_of >= 0)
    tables.aggregates.merge(cell_of[mask], [row[mask] for row in partials])
