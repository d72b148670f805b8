"""One sensor's readings in columnar form.

Layout: a sorted *base* (timestamps + a metrics x capacity float64 matrix, NaN = absent)
that grows by in-place appends, plus a small sorted *delta* for readings that arrived out of
order (older than the newest stored one). The delta is merged into the base when it passes
DELTA_LIMIT, so late readings cost O(delta) instead of O(series).

Invariant: every delta timestamp is older than the newest base timestamp.

Arrays are never modified below their current length: appends write past it and merges
build new arrays. A view taken under the state lock therefore stays valid and unchanged,
which is what lets snapshots and queries work outside the lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DELTA_LIMIT = 32_768
_EMPTY_TS = np.empty(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class SeriesView:
    """An immutable picture of a series (for snapshots and reads)."""

    sensor_id: str
    location: str | None
    metric_ids: tuple[int, ...]  # global metric id of each row
    cells: tuple[int, ...]  # aggregate cell id of each row
    base_ts: np.ndarray
    base_values: np.ndarray
    delta_ts: np.ndarray
    delta_values: np.ndarray

    def __len__(self) -> int:
        return int(self.base_ts.shape[0] + self.delta_ts.shape[0])

    def sorted_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """All readings in timestamp order (a copy only when there is a delta)."""
        if self.delta_ts.shape[0] == 0:
            return self.base_ts, self.base_values
        return merge_sorted(self.base_ts, self.base_values, self.delta_ts, self.delta_values)

    def between(self, start_us: int, end_us: int) -> tuple[np.ndarray, np.ndarray]:
        """Readings with start_us <= ts < end_us, in timestamp order: O(log n + k)."""
        b0, b1 = np.searchsorted(self.base_ts, (start_us, end_us))
        ts, values = self.base_ts[b0:b1], self.base_values[:, b0:b1]
        if self.delta_ts.shape[0]:
            d0, d1 = np.searchsorted(self.delta_ts, (start_us, end_us))
            if d1 > d0:
                ts, values = merge_sorted(ts, values, self.delta_ts[d0:d1], self.delta_values[:, d0:d1])
        return ts, values


@dataclass(frozen=True, slots=True)
class RowPlan:
    """Where a batch's metrics go in one series, cached per metric set (apply's hot path)."""

    rows: np.ndarray  # row of each metric
    full: bool  # rows == 0..len-1 and they are all the series' rows: a block copies straight in
    cells: np.ndarray  # aggregate cell of each metric (int64)


class SensorSeries:
    __slots__ = (
        "_d_ts",
        "_d_values",
        "_n",
        "_plans",
        "_row_of",
        "_ts",
        "_values",
        "cells",
        "hash",
        "index",
        "location",
        "metric_ids",
        "sensor_id",
    )

    def __init__(self, sensor_id: str, index: int, sensor_hash: int) -> None:
        self.sensor_id = sensor_id
        self.index = index  # creation order: deterministic across nodes
        self.hash = sensor_hash
        self.location: str | None = None
        self.metric_ids: list[int] = []
        self.cells: list[int] = []
        self._row_of: dict[int, int] = {}
        self._plans: dict[tuple[int, ...], RowPlan] = {}
        self._ts = _EMPTY_TS
        self._values = np.empty((0, 0), dtype=np.float64)
        self._n = 0
        self._d_ts = _EMPTY_TS
        self._d_values = np.empty((0, 0), dtype=np.float64)

    def __len__(self) -> int:
        return self._n + int(self._d_ts.shape[0])

    def rows_for(self, metric_ids: list[int], new_cell: Callable[[], int]) -> np.ndarray:
        """Row index of each metric, adding rows (and aggregate cells) for new ones."""
        rows = []
        for metric_id in metric_ids:
            row = self._row_of.get(metric_id)
            if row is None:
                row = self._add_row(metric_id, new_cell())
            rows.append(row)
        return np.asarray(rows, dtype=np.intp)

    def plan_for(self, metric_ids: tuple[int, ...], new_cell: Callable[[], int]) -> RowPlan:
        """rows_for(), cached per metric set: O(1) for the metric sets a sensor keeps sending."""
        plan = self._plans.get(metric_ids)
        if plan is None:
            rows = self.rows_for(list(metric_ids), new_cell)  # may add rows (clears the cache)
            full = rows.shape[0] == len(self.metric_ids) and _is_identity(rows)
            plan = RowPlan(rows, full, np.asarray(self.cells, dtype=np.int64)[rows])
            self._plans[metric_ids] = plan
        return plan

    def insert(self, ts: np.ndarray, rows: np.ndarray, values: np.ndarray,
               full: bool | None = None) -> np.ndarray | None:
        """Store readings not already stored. `ts` is sorted and unique; `values` has one row
        per entry of `rows` (`full`: rows are exactly all rows, in order; computed if None).
        Returns a keep-mask, or None when every reading was new."""
        n = self._n
        if full is None:
            full = rows.shape[0] == self._values.shape[0] and _is_identity(rows)
        if n == 0 or ts[0] > self._ts[n - 1]:
            self._append(ts, rows, values, full)
            return None
        split = int(np.searchsorted(ts, self._ts[n - 1], side="right"))
        late_ts = ts[:split]
        fresh = ~self._contains(late_ts)
        if split < ts.shape[0]:
            self._append(ts[split:], rows, values[:, split:], full)
        if fresh.any():
            self._insert_late(late_ts[fresh], rows, values[:, :split][:, fresh])
        keep = np.ones(ts.shape[0], dtype=bool)
        keep[:split] = fresh
        return keep

    def view(self) -> SeriesView:
        return SeriesView(
            self.sensor_id,
            self.location,
            tuple(self.metric_ids),
            tuple(self.cells),
            self._ts[: self._n],
            self._values[:, : self._n],
            self._d_ts,
            self._d_values,
        )

    @classmethod
    def restore(cls, view: SeriesView, index: int, sensor_hash: int) -> SensorSeries:
        series = cls(view.sensor_id, index, sensor_hash)
        series.location = view.location
        series.metric_ids = list(view.metric_ids)
        series.cells = list(view.cells)
        series._row_of = {m: row for row, m in enumerate(view.metric_ids)}
        series._plans = {}
        series._ts = np.array(view.base_ts, dtype=np.int64)
        series._values = np.array(view.base_values, dtype=np.float64).reshape(
            len(view.metric_ids), -1
        )
        series._n = int(series._ts.shape[0])
        series._d_ts = np.array(view.delta_ts, dtype=np.int64)
        series._d_values = np.array(view.delta_values, dtype=np.float64).reshape(
            len(view.metric_ids), -1
        )
        return series

    # -- internals -------------------------------------------------------------------

    def _add_row(self, metric_id: int, cell: int) -> int:
        row = len(self.metric_ids)
        self.metric_ids.append(metric_id)
        self.cells.append(cell)
        self._row_of[metric_id] = row
        self._plans.clear()  # "full" plans no longer cover every row
        self._values = _with_nan_row(self._values)
        self._d_values = _with_nan_row(self._d_values)
        return row

    def _append(self, ts: np.ndarray, rows: np.ndarray, values: np.ndarray, full: bool) -> None:
        k, n = ts.shape[0], self._n
        if n + k > self._ts.shape[0]:
            self._grow(n + k)
        self._ts[n : n + k] = ts
        if full:
            self._values[:, n : n + k] = values
        else:
            self._values[:, n : n + k] = np.nan
            self._values[rows, n : n + k] = values
        self._n = n + k

    def _grow(self, needed: int) -> None:
        # 1.25x growth keeps the unused tail small (memory per reading matters at 10M+).
        capacity = max(needed, int(self._ts.shape[0] * 1.25) + 64)
        ts = np.empty(capacity, dtype=np.int64)
        ts[: self._n] = self._ts[: self._n]
        values = np.empty((self._values.shape[0], capacity), dtype=np.float64)
        values[:, : self._n] = self._values[:, : self._n]
        self._ts, self._values = ts, values

    def _contains(self, query: np.ndarray) -> np.ndarray:
        found = _member(self._ts[: self._n], query)
        if self._d_ts.shape[0]:
            found |= _member(self._d_ts, query)
        return found

    def _insert_late(self, ts: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
        full = np.full((self._values.shape[0], ts.shape[0]), np.nan)
        full[rows] = values
        if self._d_ts.shape[0] == 0:
            self._d_ts, self._d_values = ts.copy(), full
        else:
            self._d_ts, self._d_values = merge_sorted(self._d_ts, self._d_values, ts, full)
        if self._d_ts.shape[0] > DELTA_LIMIT:
            self._merge_delta()

    def _merge_delta(self) -> None:
        n, d = self._n, self._d_ts.shape[0]
        total = n + d
        capacity = max(total, int(total * 1.25) + 64)
        ts = np.empty(capacity, dtype=np.int64)
        values = np.empty((self._values.shape[0], capacity), dtype=np.float64)
        delta_pos = np.searchsorted(self._ts[:n], self._d_ts) + np.arange(d)
        base_pos = np.ones(total, dtype=bool)
        base_pos[delta_pos] = False
        base_idx = np.flatnonzero(base_pos)
        ts[base_idx] = self._ts[:n]
        ts[delta_pos] = self._d_ts
        values[:, base_idx] = self._values[:, :n]
        values[:, delta_pos] = self._d_values
        self._ts, self._values, self._n = ts, values, total
        self._d_ts = _EMPTY_TS
        self._d_values = np.empty((values.shape[0], 0), dtype=np.float64)


def _member(sorted_ts: np.ndarray, query: np.ndarray) -> np.ndarray:
    if sorted_ts.shape[0] == 0:
        return np.zeros(query.shape[0], dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_ts, query), sorted_ts.shape[0] - 1)
    return sorted_ts[pos] == query


def merge_sorted(
    ts_a: np.ndarray, values_a: np.ndarray, ts_b: np.ndarray, values_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two runs of readings (each in timestamp order) as one run in timestamp order; among
    equal timestamps those of run a come first."""
    ts = np.concatenate((ts_a, ts_b))
    order = np.argsort(ts, kind="stable")
    return ts[order], np.concatenate((values_a, values_b), axis=1)[:, order]


def _with_nan_row(values: np.ndarray) -> np.ndarray:
    grown = np.empty((values.shape[0] + 1, values.shape[1]), dtype=np.float64)
    grown[:-1] = values
    grown[-1] = np.nan
    return grown


def _is_identity(rows: np.ndarray) -> bool:
    return bool((rows == np.arange(rows.shape[0])).all())
