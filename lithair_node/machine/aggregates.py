"""Running per-(sensor, metric) statistics: one partial (see stats.py) per "cell".

Each (sensor, metric) pair owns one cell id; the partials live in one growable (5, cells)
array, so a whole batch is folded in with a handful of vectorised operations.
"""

from __future__ import annotations

import numpy as np

from lithair_node.machine import stats


class CellAggregates:
    def __init__(self) -> None:
        self._size = 0
        self._data = np.zeros((len(stats.FIELDS), 64), dtype=np.float64)

    def __len__(self) -> int:
        return self._size

    def new_cell(self) -> int:
        if self._size == self._data.shape[1]:
            grown = np.zeros((len(stats.FIELDS), self._size * 2), dtype=np.float64)
            grown[:, : self._size] = self._data[:, : self._size]
            self._data = grown
        cell = self._size
        self._data[:, cell] = (0.0, 0.0, 0.0, np.inf, -np.inf)
        self._size += 1
        return cell

    def merge(self, cells: np.ndarray, partials: stats.Partials) -> None:
        """Fold a batch's partials (5 x len(cells)) into the running ones of `cells`, which
        must not repeat."""
        # Row by row: gathering and scattering one row at a time is the fast way (apply).
        data = self._data
        merged = stats.merge([row[cells] for row in data], partials)
        for row, values in zip(data, merged, strict=True):
            row[cells] = values

    def running(self) -> np.ndarray:
        """count/mean/m2 of every cell, shape (3, cells): a view, valid until the next merge."""
        return self._data[:3, : self._size]

    def export(self, cells: np.ndarray) -> np.ndarray:
        """A copy of the statistics of `cells`, shape (5, len(cells))."""
        return self._data[:, cells].copy()

    def load(self, partials: np.ndarray) -> np.ndarray:
        """Create cells holding `partials` (shape (5, k)); return their ids."""
        first = self._size
        for _ in range(partials.shape[1]):
            self.new_cell()
        cells = np.arange(first, self._size, dtype=np.int64)
        self._data[:, cells] = partials
        return cells
