"""What the node reads of the lifecycle, taken under the state lock (StateMachine calls
these with it held): small copies, safe to use outside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lithair_node.machine.engine import retention
from lithair_node.machine.engine.cells import cell_keys
from lithair_node.machine.tables import Tables


@dataclass(frozen=True)
class LifecycleView:
    applied_index: int
    policy: dict[str, Any]  # {"rules": [...]} as set (canonical)
    clock_us: int  # 0: no tick applied yet
    expired_readings: int
    rollup_rows: dict[int, int]  # width us -> rows held
    rollup_bytes: int
    cold_readings: int = 0  # readings moved to the cold tier, ever
    cold_files: int = 0


@dataclass(frozen=True)
class ColdView:
    """The cold manifest at one applied index (its tuple and dict are never mutated)."""

    applied_index: int
    files: tuple[tuple[Any, ...], ...]  # wire entries (node/coldtier/manifest.py ColdFile)
    tiered_until: dict[str, int]  # sensor id -> readings before this ts are in the cold tier
    next_seq: int


@dataclass(frozen=True)
class RollupParts:
    starts: np.ndarray  # bucket start us, per row
    partials: np.ndarray  # (6, rows): count, mean, m2, min, max, sum
    raw_cutoff: int  # the earliest ts raw readings of these cells are complete from
    kept_from: int  # the earliest bucket start this rollup still holds for every cell


def view(tables: Tables, applied_index: int) -> LifecycleView:
    life = tables.lifecycle
    return LifecycleView(applied_index, life.policy.body(), life.clock_us, life.expired_readings,
                         {w: t.size for w, t in sorted(life.tables.items())},
                         sum(t.nbytes() for t in life.tables.values()),
                         life.cold.readings, len(life.cold.files))


def cold_view(tables: Tables, applied_index: int) -> ColdView:
    cold = tables.lifecycle.cold
    return ColdView(applied_index, cold.files, cold.tiered_until, cold.next_seq)


def rollup_parts(tables: Tables, sensor_ids: list[str], metric: str, width: int, start: int,
                 end: int) -> RollupParts | None:
    engine, life = tables.engine, tables.lifecycle
    metric_id = engine.metrics.get(metric)
    numbers = engine.sensors.lookup(sensor_ids)
    numbers = numbers[numbers >= 0]
    if metric_id < 0 or not numbers.shape[0]:
        return None
    keys = cell_keys(numbers, np.full(numbers.shape[0], metric_id))
    pos = np.searchsorted(engine.cells.keys, keys)
    inside = pos < engine.cells.keys.shape[0]
    inside[inside] = engine.cells.keys[pos[inside]] == keys[inside]
    cells = engine.cells.cells[pos[inside]]
    if not life.rollup_cells(cells, width):
        return None
    starts, partials = life.tables[width].select(cells, start, end)
    cutoffs = life.raw_cutoffs(engine)[numbers[inside]]
    return RollupParts(starts, partials, int(cutoffs.max()), life.rollup_horizon(cells, width))


def tier_due(tables: Tables) -> dict[str, int]:
    engine, life = tables.engine, tables.lifecycle
    if not life.active:
        return {}
    cutoff = life.tier_cutoffs(engine)
    due = np.flatnonzero((cutoff > retention.KEEP_ALL) & (retention.oldest_ts(engine) < cutoff))
    names = engine.sensors.names
    return {names[s]: int(cutoff[s]) for s in due.tolist()}
