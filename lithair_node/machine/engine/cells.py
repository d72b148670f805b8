"""Cells: one per (sensor number, metric id) pair, numbered in apply order, found for a
whole batch with one binary search over a sorted key array (no dict, no Python loop)."""

from __future__ import annotations

import numpy as np

METRIC_BITS = 16  # metric ids stay below 2**16: the cluster-wide limit on metric names is lower
METRIC_MASK = (1 << METRIC_BITS) - 1


def cell_keys(sensors: np.ndarray, metrics: np.ndarray) -> np.ndarray:
    return (sensors.astype(np.int64) << METRIC_BITS) | metrics.astype(np.int64)


class CellIndex:
    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.int64)  # sorted
        self.cells = np.empty(0, dtype=np.int64)  # cell of each key
        self.count = 0

    def cells_of(self, keys: np.ndarray) -> tuple[np.ndarray, int]:
        """Cells of `keys` (distinct), creating the missing ones in the order given; also
        returns how many were created (their cells are count - created .. count - 1)."""
        pos = np.searchsorted(self.keys, keys)
        found = pos < self.keys.shape[0]
        found[found] = self.keys[pos[found]] == keys[found]
        cells = np.empty(keys.shape[0], dtype=np.int64)
        cells[found] = self.cells[pos[found]]
        missing = np.flatnonzero(~found)
        if missing.shape[0]:
            new_cells = np.arange(self.count, self.count + missing.shape[0], dtype=np.int64)
            cells[missing] = new_cells
            self.count += missing.shape[0]
            new_keys = keys[missing]
            order = np.argsort(new_keys, kind="stable")
            at = np.searchsorted(self.keys, new_keys[order])
            self.keys = np.insert(self.keys, at, new_keys[order])
            self.cells = np.insert(self.cells, at, new_cells[order])
        return cells, int(missing.shape[0])

    def metrics_of(self, sensor: int) -> tuple[np.ndarray, np.ndarray]:
        """(metric ids ascending, their cells) of one sensor: two binary searches."""
        lo, hi = np.searchsorted(self.keys, (sensor << METRIC_BITS, (sensor + 1) << METRIC_BITS))
        return self.keys[lo:hi] & METRIC_MASK, self.cells[lo:hi]

    def load(self, keys: np.ndarray, cells: np.ndarray) -> None:
        self.keys, self.cells = keys.astype(np.int64), cells.astype(np.int64)
        self.count = int(cells.shape[0])
