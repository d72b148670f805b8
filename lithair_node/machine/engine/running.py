"""Running per-cell statistics (count, mean, M2, min, max), folded per batch with the very
merge of machine/stats.py, so the results equal those of the current engine."""

from __future__ import annotations

import numpy as np

from lithair_node.machine import stats


def grouped_dense(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
    """stats.grouped of a batch with every value present, to the bit: its np.where's then
    pick `values` everywhere (and its count is `lengths`), so they are skipped. `values` is
    made C-contiguous as np.where's output is (reduceat's summation order follows layout)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        filled = np.ascontiguousarray(values)
        count = np.broadcast_to(lengths.astype(np.float64), filled.shape[:1] + lengths.shape)
        low = np.minimum.reduceat(filled, starts, axis=1)
        high = np.maximum.reduceat(filled, starts, axis=1)
        mean = stats.rescued_means(np.add.reduceat(filled, starts, axis=1) / count, count, low,
                                   high, lambda scale: np.add.reduceat(filled * scale, starts, axis=1))
        spread = filled - np.repeat(mean, lengths, axis=1)
        m2 = np.add.reduceat(spread * spread, starts, axis=1)
    return count, mean, m2, low, high


class RunningStats:
    def __init__(self) -> None:
        self.data = stats.empty(0)  # (5, capacity); columns past `size` are unused
        self.size = 0

    def add_cells(self, k: int) -> None:
        """k empty cells past the used ones. Capacity doubles, but only used columns are
        written (filled here as cells arrive): untouched pages cost no page faults and no
        resident memory, and a regrowth copies only the used columns."""
        if k <= 0:
            return
        size, end = self.size, self.size + k
        if end > self.data.shape[1]:
            grown = np.empty((5, max(end, 2 * self.data.shape[1], 64)))
            grown[:, :size] = self.data[:, :size]
            self.data = grown
        self.data[:3, size:end] = 0.0  # stats.empty's partial: (0, 0, 0, inf, -inf)
        self.data[3, size:end] = np.inf
        self.data[4, size:end] = -np.inf
        self.size = end

    def gather(self, cells: np.ndarray) -> list[np.ndarray]:
        """The five rows of `cells` (gathering one row at a time is the fast way)."""
        return [row[cells] for row in self.data]

    def merge(self, cells: np.ndarray, partials: stats.Partials,
              before: list[np.ndarray] | None = None) -> None:
        """Fold partials (5 x len(cells)) into distinct `cells`; `before`: gather(cells),
        when the caller took it since the last write."""
        merged = stats.merge(self.gather(cells) if before is None else before, partials)
        for row, values in zip(self.data, merged, strict=True):
            row[cells] = values

    def merge_values(self, cells: np.ndarray, x: np.ndarray) -> None:
        """merge() of one value per cell (partials (1, x, 0, x, x)), without building the
        partials: stats.merge's very operations with n_b = 1, m2_b = 0, so the same bits."""
        data = self.data
        n_a, mean_a, m2_a = data[0][cells], data[1][cells], data[2][cells]
        n = n_a + 1.0
        with np.errstate(over="ignore", invalid="ignore"):
            delta = x - mean_a
            weight = 1.0 / n
            cross = n_a / n  # (n_a * 1) / n
            low, high = np.minimum(data[3][cells], x), np.maximum(data[4][cells], x)
            mean = stats.rescued_means(mean_a + delta * weight, n, low, high,
                                       lambda scale: (mean_a * scale * (1 - weight)
                                                      + x * scale * weight) * n)
            m2 = m2_a + 0.0 + delta * delta * cross
        data[0][cells], data[1][cells], data[2][cells] = n, mean, m2
        data[3][cells], data[4][cells] = low, high

    def running(self) -> np.ndarray:
        """count/mean/m2 of every cell, (3, cells): what the anomaly detector reads."""
        return self.data[:3, : self.size]

    def export(self, cells: np.ndarray) -> np.ndarray:
        return self.data[:, cells].copy()

    def load(self, data: np.ndarray) -> None:
        self.data = np.array(data, dtype=np.float64).reshape(5, -1)
        self.size = self.data.shape[1]
