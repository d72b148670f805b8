"""Apply of an ingest entry: idempotency keys, then the readings stored by the engine
(engine/engine.py: dedup, statistics, latest, readings hash), anomalies checked and the
location index kept (apply's hot path). No Python loop runs per sensor or per reading.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lithair_node.machine.commands import (
    MAX_BATCH_SLOTS,
    UNLIMITED,
    BatchColumns,
    decode_columns,
    decode_limits,
    merge_columns,
)
from lithair_node.machine.digest import MASK64, text_hashes
from lithair_node.machine.engine.limits import LimitCheck
from lithair_node.machine.engine.pictures import StoredBatch
from lithair_node.machine.entries import BatchOutcome, LogEntry
from lithair_node.machine.idempotency import BatchResult
from lithair_node.machine.tables import Tables

# BatchOutcome.status of a batch the metric-name limits refused: a 422 for its client.
TOO_MANY_METRICS = "too_many_metrics"


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
    limit_check = LimitCheck(tables.engine)
    for position, item in enumerate(items):
        if not (isinstance(item, list) and len(item) in (3, 4)):
            outcomes[position] = BatchOutcome(
                "invalid", message="batch must be [key, fingerprint, columns(, limits)]")
            continue
        key, fingerprint, raw_columns = item[:3]
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
            limits = decode_limits(item[3]) if len(item) == 4 else UNLIMITED
        except ValueError as exc:
            outcomes[position] = BatchOutcome("invalid", message=str(exc))
            continue
        refusal = limit_check.refusal(columns, limits)
        if refusal is not None:  # the whole batch, before anything of it is stored
            outcomes[position] = BatchOutcome(TOO_MANY_METRICS, message=refusal)
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
    share sensors are merged first, so the engine's fixed cost is paid once per entry
    rather than once per batch (small batches of one gateway's sensors, grouped by group
    commit, are the common case)."""
    if len(batches) > 1 and len(set().union(*(b.sensors for b in batches))) < sum(
        len(b.sensors) for b in batches
    ) and _merge_fits(batches):
        merged, origin = merge_columns(batches)
        keep = _store(tables, merged, raft_index)
        kept = origin if keep is None else origin[keep]
        return np.bincount(kept, minlength=len(batches)).tolist()
    stored = []
    for columns in batches:
        keep = _store(tables, columns, raft_index)
        stored.append(columns.readings if keep is None else int(keep.sum()))
    return stored


def _merge_fits(batches: list[BatchColumns]) -> bool:
    """Whether the merged metrics x readings matrix stays small: batches with different
    names each reading carrying a few would multiply it (each is bounded by the codec)."""
    readings = sum(b.readings for b in batches)
    merged = len(set().union(*(b.metrics for b in batches))) * readings
    return merged <= MAX_BATCH_SLOTS or merged <= 2 * sum(len(b.metrics) * b.readings
                                                          for b in batches)


def _store(tables: Tables, columns: BatchColumns, raft_index: int) -> np.ndarray | None:
    """Store the readings of a batch that are not stored yet; return which were stored
    (None: all of them). The engine does it in a fixed number of vectorised passes; the
    detector sees the stored readings before their statistics are folded in."""
    if not columns.sensors:
        return None
    engine = tables.engine
    detector = tables.anomalies

    def observe(s: StoredBatch, running: np.ndarray) -> None:
        detector.observe(s.sensors, s.counts, s.cell_of, s.ts, s.values, running,
                         columns.metrics, raft_index, s.cell_run)

    stored = engine.apply_batch(columns, observe)
    tables.lifecycle.observe(engine, stored)  # rollups (a no-op without a lifecycle policy)
    if stored.moved.shape[0]:  # only sensors whose location changed cost Python work
        _record_moves(tables, stored)
    return stored.keep


def _record_moves(tables: Tables, stored: StoredBatch) -> None:
    """Tables.move for each moved sensor; sensors given their first location (new ones,
    the bulk of a feed that keeps adding sensors) have their hashes summed in one pass."""
    engine = tables.engine
    sensor_ids, locations = engine.sensors.names, engine.locations.names
    first = stored.moved_from < 0
    moved, before = stored.moved, stored.moved_from
    if not first.all():
        for sensor, was, at in zip(moved[~first].tolist(), before[~first].tolist(),
                                   engine.location[moved[~first]].tolist(), strict=True):
            tables.move(sensor_ids[sensor], locations[was], locations[at])
        moved = moved[first]
    if moved.shape[0]:  # Tables.move's index entry and hash, summed mod 2**64 (uint64 sums wrap)
        at = engine.location[moved]
        tables.location_index.place_numbered(moved, at, sensor_ids, locations)
        placed = list(map(sensor_ids.__getitem__, moved.tolist()))
        where = list(map(locations.__getitem__, at.tolist()))
        added = text_hashes(list(map("{}\x00{}".format, placed, where)))
        tables.locations_hash = (tables.locations_hash + int(added.sum(dtype=np.uint64))) & MASK64
