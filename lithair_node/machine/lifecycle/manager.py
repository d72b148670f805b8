"""Lifecycle: the replicated policy and clock, each cell's rule, and the rollup tables.

Apply calls `set_policy` (a `lifecycle` entry), `observe` (after every stored batch) and
`tick` (a `tick` entry: the leader's clock). With no policy all three cost nothing.

Rule of a cell: the first rule matching its sensor (id prefix, current location) and its
metric, kept in an array per cell number; matching is Python work only for sensors and
metrics never seen before, sensors that moved, and once per policy change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lithair_node.machine.engine import retention
from lithair_node.machine.engine.cells import METRIC_BITS, METRIC_MASK, cell_keys
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.pictures import StoredBatch
from lithair_node.machine.lifecycle.cold import ColdState
from lithair_node.machine.lifecycle.policy import Policy
from lithair_node.machine.lifecycle.rollups import RollupTable

NEVER = np.iinfo(np.int64).max


@dataclass
class TickOutcome:
    clock_us: int
    raw_dropped: int = 0
    rollups_dropped: int = 0


@dataclass
class Lifecycle:
    policy: Policy = field(default_factory=Policy)
    clock_us: int = 0  # the largest leader clock applied (0: none yet)
    expired_readings: int = 0  # raw readings retention has dropped, ever
    tables: dict[int, RollupTable] = field(default_factory=dict)  # width us -> table
    cold: ColdState = field(default_factory=ColdState)  # the cold tier's manifest (cold.py)
    _rule_of_cell: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    _sensor_ok: np.ndarray = field(default_factory=lambda: np.empty((0, 0), bool))
    _metric_ok: np.ndarray = field(default_factory=lambda: np.empty((0, 0), bool))

    @property
    def active(self) -> bool:
        return bool(self.policy.rules)

    # -- apply ---------------------------------------------------------------------------

    def set_policy(self, engine: Engine, policy: Policy, backfill: bool = True) -> None:
        """Switch policies. A rollup a cell keeps under both stays; one it loses is dropped;
        one it gains is computed from the raw readings still held (a scan, once; not on
        restore, whose tables come from the snapshot)."""
        before = self._pairs(engine) if self.active else {}
        self.policy = policy
        if not policy.rules:
            self.tables.clear()
            return
        self._sensor_ok = np.zeros((len(policy.rules), 0), bool)
        self._metric_ok = np.zeros((len(policy.rules), 0), bool)
        self._rule_of_cell = np.empty(0, np.int64)
        self._refresh(engine, np.empty(0, np.int64))
        after = self._pairs(engine)
        for width in set(self.tables) | set(after):
            table = self.tables.setdefault(width, RollupTable(width))
            keeps = after.get(width, np.zeros(0, bool))
            table.keep_where(_at(keeps, table.cells()))
            old = before.get(width, np.zeros(0, bool))
            gained = keeps & ~_at(old, np.arange(keeps.shape[0]))
            if backfill and gained.any():
                self._backfill(engine, table, gained)
            if not table.size and width not in after:
                del self.tables[width]

    def observe(self, engine: Engine, stored: StoredBatch) -> None:
        """Fold a stored batch into the rollups (after Engine.apply_batch)."""
        if not self.active:
            return
        self._refresh(engine, stored.moved)
        if not self.tables or not stored.ts.shape[0]:
            return
        group = np.repeat(np.arange(stored.counts.shape[0]), stored.counts)
        cell = stored.cell_of[:, group]
        present = (cell >= 0) & ~np.isnan(stored.values)
        cells, x = cell[present], stored.values[present]
        ts = np.broadcast_to(stored.ts, cell.shape)[present]
        self._add(cells, ts, x)

    def tick(self, engine: Engine, clock_ms: int) -> TickOutcome:
        self.clock_us = max(self.clock_us, clock_ms * 1000)
        outcome = TickOutcome(self.clock_us)
        if not self.active:
            return outcome
        self._refresh(engine, np.empty(0, np.int64))
        outcome.raw_dropped = retention.drop_older(engine, self.raw_cutoffs(engine))
        self.expired_readings += outcome.raw_dropped
        for width, table in self.tables.items():
            keep_us = self._per_rule(lambda rule, w=width: next(
                (r.keep_us for r in rule.rollups if r.width_us == w), None))
            rule = self._rule_of_cell[table.cells()]
            limit = np.where(keep_us[rule] == NEVER, -NEVER, self.clock_us - keep_us[rule])
            outcome.rollups_dropped += table.keep_where(table.bucket_starts() + width > limit)
        return outcome

    # -- what reads and the tiering job ask ----------------------------------------------

    def raw_cutoffs(self, engine: Engine) -> np.ndarray:
        """Per sensor number: readings before this ts are due for deletion (KEEP_ALL: none).
        A sensor's cutoff is the earliest of its cells': a row goes once all its metrics may."""
        return self._cutoffs(engine, lambda rule: rule.raw_us)

    def tier_cutoffs(self, engine: Engine) -> np.ndarray:
        """Per sensor number: readings before this ts are due for the cold tier."""
        return self._cutoffs(engine, lambda rule: rule.tier_after_us)

    def rollup_cells(self, cells: np.ndarray, width: int) -> bool:
        """Whether every one of `cells` keeps a rollup of `width`."""
        if not self.active or width not in self.tables or not cells.shape[0]:
            return False
        has = self._per_rule(lambda rule: 0 if any(r.width_us == width for r in rule.rollups)
                             else None)
        rules = _at(self._rule_of_cell, cells, -1)
        return bool(((rules >= 0) & (has[rules] != NEVER)).all())

    def rollup_horizon(self, cells: np.ndarray, width: int) -> int:
        """The earliest ts from which every one of `cells` still holds its `width` rollup."""
        keep_us = self._per_rule(lambda rule: next(
            (r.keep_us for r in rule.rollups if r.width_us == width), None))
        spans = keep_us[_at(self._rule_of_cell, cells, -1)]
        if not spans.shape[0] or (spans == NEVER).all():
            return retention.KEEP_ALL
        return self.clock_us - int(spans[spans != NEVER].min())

    # -- internals -----------------------------------------------------------------------

    def _add(self, cells: np.ndarray, ts: np.ndarray, x: np.ndarray) -> None:
        rules = self._rule_of_cell[cells]
        for width, table in self.tables.items():
            has = self._per_rule(lambda rule, w=width: 0 if any(
                r.width_us == w for r in rule.rollups) else None)
            wanted = (rules >= 0) & (has[rules] != NEVER)
            table.add(cells[wanted], ts[wanted], x[wanted])

    def _backfill(self, engine: Engine, table: RollupTable, gained: np.ndarray) -> None:
        for sensor, ts, metrics, values in _raw_parts(engine):
            present = ~np.isnan(values)  # only present values have a cell
            metric_row, row = np.nonzero(present)
            keys = cell_keys(sensor[row], metrics[metric_row])
            cells = engine.cells.cells[np.searchsorted(engine.cells.keys, keys)]
            wanted = _at(gained, cells)
            table.add(cells[wanted], ts[row][wanted], values[metric_row, row][wanted])

    def _pairs(self, engine: Engine) -> dict[int, np.ndarray]:
        """Per rollup width, a per-cell mask of the cells keeping it."""
        out = {}
        for width in self.policy.widths():
            has = self._per_rule(lambda rule, w=width: 0 if any(
                r.width_us == w for r in rule.rollups) else None)
            rules = self._rule_of_cell
            out[width] = (rules >= 0) & (has[rules] != NEVER)
        return out

    def _per_rule(self, pick) -> np.ndarray:  # type: ignore[no-untyped-def]
        """pick(rule) -> int | None per rule, as int64 (None: NEVER), plus NEVER for -1."""
        values = [pick(rule) for rule in self.policy.rules]
        return np.array([NEVER if v is None else v for v in values] + [NEVER], dtype=np.int64)

    def _cutoffs(self, engine: Engine, duration) -> np.ndarray:  # type: ignore[no-untyped-def]
        self._refresh(engine, np.empty(0, np.int64))
        span = self._per_rule(duration)[self._rule_of_cell]
        cell_cut = np.where(span == NEVER, retention.KEEP_ALL, self.clock_us - span)
        sensors = np.full(engine.last_ts.shape[0], NEVER)
        np.minimum.at(sensors, _key_of_cell(engine) >> METRIC_BITS, cell_cut)
        return np.where(sensors == NEVER, retention.KEEP_ALL, sensors)

    def _refresh(self, engine: Engine, moved: np.ndarray) -> None:
        """Bring the match caches up to new sensors, metrics, cells and moved sensors."""
        rules = self.policy.rules
        sensor_ids, locations = engine.sensors.names, engine.locations.names
        location = engine.location

        def sensor_column(s: int) -> list[bool]:
            where = locations[int(location[s])] if location[s] >= 0 else None
            return [rule.matches_sensor(sensor_ids[s], where) for rule in rules]

        known = self._sensor_ok.shape[1]
        dirty = moved.shape[0] > 0 or known < len(sensor_ids)
        if known < len(sensor_ids):
            fresh = np.array([sensor_column(s) for s in range(known, len(sensor_ids))],
                             bool).reshape(-1, len(rules)).T
            self._sensor_ok = np.concatenate((self._sensor_ok, fresh), axis=1)
        for s in moved.tolist():
            self._sensor_ok[:, s] = sensor_column(s)
        names = engine.metrics.names
        if self._metric_ok.shape[1] < len(names):
            fresh = np.array([[rule.matches_metric(m) for rule in rules]
                              for m in names[self._metric_ok.shape[1]:]], bool).reshape(-1, len(rules)).T
            self._metric_ok = np.concatenate((self._metric_ok, fresh), axis=1)
        if dirty or self._rule_of_cell.shape[0] < engine.cells.count:
            keys = _key_of_cell(engine)
            ok = self._sensor_ok[:, keys >> METRIC_BITS] & self._metric_ok[:, keys & METRIC_MASK]
            self._rule_of_cell = np.where(ok.any(axis=0), ok.argmax(axis=0), -1).astype(np.int64) \
                if rules else np.full(keys.shape[0], -1, np.int64)


def _key_of_cell(engine: Engine) -> np.ndarray:
    keys = np.empty(engine.cells.count, dtype=np.int64)
    keys[engine.cells.cells] = engine.cells.keys
    return keys


def _at(mask: np.ndarray, index: np.ndarray, missing: int | bool = False) -> np.ndarray:
    """mask[index], `missing` where index is past the end."""
    inside = index < mask.shape[0]
    out = np.full(index.shape[0], missing, dtype=mask.dtype)
    out[inside] = mask[index[inside]]
    return out


def _raw_parts(engine: Engine):  # type: ignore[no-untyped-def]
    """(sensor per row, ts, metric ids, values (metrics x rows)) of every segment, then hot."""
    for segment in engine.segments:
        yield retention.decode_segment(segment)
    hot = engine.hot.view()
    if hot.ts.shape[0]:
        width = len(engine.metrics.names)
        yield (hot.sensor.astype(np.int64), hot.ts, np.arange(width, dtype=np.int64),
               hot.dense(np.arange(hot.ts.shape[0]), np.arange(width), width))

