"""Running per-(sensor, metric) statistics: count, mean, M2 (Welford/Chan), min, max.

Each (sensor, metric) pair owns one "cell" id; statistics live in flat growable arrays
indexed by cell, so a whole batch is merged with a handful of vectorised operations.
"""

from __future__ import annotations

import numpy as np

FIELDS = ("count", "mean", "m2", "min", "max")


class CellAggregates:
    def __init__(self) -> None:
        self._size = 0
        self._data = np.zeros((len(FIELDS), 64), dtype=np.float64)

    def __len__(self) -> int:
        return self._size

    def new_cell(self) -> int:
        if self._size == self._data.shape[1]:
            grown = np.zeros((len(FIELDS), self._size * 2), dtype=np.float64)
            grown[:, : self._size] = self._data[:, : self._size]
            self._data = grown
        cell = self._size
        self._data[:, cell] = (0.0, 0.0, 0.0, np.inf, -np.inf)
        self._size += 1
        return cell

    def merge(
        self,
        cells: np.ndarray,
        count: np.ndarray,
        mean: np.ndarray,
        m2: np.ndarray,
        low: np.ndarray,
        high: np.ndarray,
    ) -> None:
        """Fold batch statistics into the running ones (Chan et al.'s parallel update).

        `cells` must not repeat; entries with count 0 must already be filtered out.
        """
        data = self._data
        # Values near the float64 limit overflow M2 to inf: that is the honest answer, not a
        # reason to warn on stderr for every batch.
        with np.errstate(over="ignore", invalid="ignore"):
            self._merge(data, cells, count, mean, m2, low, high)

    @staticmethod
    def _merge(data: np.ndarray, cells: np.ndarray, count: np.ndarray, mean: np.ndarray,
               m2: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
        n_a = data[0, cells]
        mean_a = data[1, cells]
        n = n_a + count
        delta = mean - mean_a
        data[1, cells] = mean_a + delta * (count / n)
        data[2, cells] = data[2, cells] + m2 + delta * delta * (n_a * count / n)
        data[0, cells] = n
        data[3, cells] = np.minimum(data[3, cells], low)
        data[4, cells] = np.maximum(data[4, cells], high)

    def running(self) -> np.ndarray:
        """count/mean/m2 of every cell, shape (3, cells): a view, valid until the next merge."""
        return self._data[:3, : self._size]

    def get(self, cell: int) -> tuple[int, float, float, float, float]:
        count, mean, m2, low, high = self._data[:, cell].tolist()
        return int(count), mean, m2, low, high

    def export(self, cells: np.ndarray) -> np.ndarray:
        """A copy of the statistics of `cells`, shape (5, len(cells))."""
        return self._data[:, cells].copy()

    def load(self, stats: np.ndarray) -> np.ndarray:
        """Create cells holding `stats` (shape (5, k)); return their ids."""
        first = self._size
        for _ in range(stats.shape[1]):
            self.new_cell()
        cells = np.arange(first, self._size, dtype=np.int64)
        self._data[:, cells] = stats
        return cells


def batch_stats(
    values: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per (metric row, group) count/mean/M2/min/max of `values` (m x n, NaN = absent),
    where groups are the contiguous column ranges beginning at `starts`."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _batch_stats(values, starts)


def _batch_stats(
    values: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    present = ~np.isnan(values)
    count = np.add.reduceat(present, starts, axis=1).astype(np.float64)
    filled = np.where(present, values, 0.0)
    total = np.add.reduceat(filled, starts, axis=1)
    mean = total / count
    lengths = np.diff(np.append(starts, values.shape[1]))
    spread = np.where(present, values - np.repeat(mean, lengths, axis=1), 0.0)
    m2 = np.add.reduceat(spread * spread, starts, axis=1)
    low = np.minimum.reduceat(np.where(present, values, np.inf), starts, axis=1)
    high = np.maximum.reduceat(np.where(present, values, -np.inf), starts, axis=1)
    return count, mean, m2, low, high
