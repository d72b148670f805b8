"""Rollup tables: per (cell, bucket of one width) the partial statistics of its readings,
updated by apply from each stored batch, vectorised (no Python loop per reading).

Rows are kept sorted by key = bucket << 31 | cell (bucket-major), so a time range is one
contiguous slice (searchsorted) and, data arriving roughly in time order, new rows land at
or near the end: an insert rewrites only the rows after the first new key. The arrays have
spare capacity and are written in place; readers copy what they need under the state lock.

    data rows: count, mean, m2, min, max (stats.py's partials, merged with stats.merge), sum
"""

from __future__ import annotations

import numpy as np

from lithair_node.machine import stats

CELL_BITS = 31
CELL_MASK = (1 << CELL_BITS) - 1
ROWS = 6  # count, mean, m2, min, max, sum


class RollupTable:
    def __init__(self, width_us: int) -> None:
        self.width_us = width_us
        self.size = 0
        self._keys = np.empty(0, dtype=np.int64)
        self._data = np.empty((ROWS, 0))

    @property
    def keys(self) -> np.ndarray:
        return self._keys[: self.size]

    @property
    def data(self) -> np.ndarray:
        return self._data[:, : self.size]

    def add(self, cells: np.ndarray, ts: np.ndarray, x: np.ndarray) -> None:
        """Fold readings (cell, ts, value), in any order, into their buckets."""
        if not cells.shape[0]:
            return
        keys = ((ts // self.width_us) << CELL_BITS) | cells
        distinct, slot = np.unique(keys, return_inverse=True)
        ones = np.ones_like(x)
        each = np.vstack((ones, x, np.zeros_like(x), x, x))  # one partial per reading
        merged, sums = stats.combine_by_key(each, slot, distinct.shape[0], totals=x)
        self._fold(distinct, np.vstack((merged, sums)))

    def _fold(self, keys: np.ndarray, part: np.ndarray) -> None:
        """Merge rows (distinct keys, ascending) into the table."""
        have = self.keys
        pos = np.searchsorted(have, keys)
        found = pos < self.size
        found[found] = have[pos[found]] == keys[found]
        if found.any():
            at = pos[found]
            old = self._data[:, at]
            new = part[:, found]
            self._data[:5, at] = stats.merge(old[:5], new[:5])
            self._data[5, at] = old[5] + new[5]
        missing = ~found
        if missing.any():
            self._insert(keys[missing], part[:, missing], int(pos[missing][0]))

    def _insert(self, keys: np.ndarray, part: np.ndarray, first: int) -> None:
        """Insert new rows; only the rows from `first` (the first new key's place) move."""
        total = self.size + keys.shape[0]
        if total > self._keys.shape[0]:
            capacity = max(total, 2 * self._keys.shape[0], 1024)
            keys_grown = np.empty(capacity, dtype=np.int64)
            data_grown = np.empty((ROWS, capacity))
            keys_grown[: self.size] = self.keys
            data_grown[:, : self.size] = self.data
            self._keys, self._data = keys_grown, data_grown
        tail_keys = np.concatenate((self._keys[first : self.size], keys))
        tail_data = np.concatenate((self._data[:, first : self.size], part), axis=1)
        order = np.argsort(tail_keys, kind="stable")
        self._keys[first:total] = tail_keys[order]
        self._data[:, first:total] = tail_data[:, order]
        self.size = total

    def keep_where(self, keep: np.ndarray) -> int:
        """Keep only the rows where `keep` (per row) holds; return how many were dropped."""
        dropped = int(self.size - keep.sum())
        if dropped:
            k = self.size - dropped
            self._keys[:k] = self.keys[keep]
            self._data[:, :k] = self.data[:, keep]
            self.size = k
        return dropped

    def cells(self) -> np.ndarray:
        return self.keys & CELL_MASK

    def bucket_starts(self) -> np.ndarray:
        return (self.keys >> CELL_BITS) * self.width_us

    def select(self, cells: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (bucket start us, partials + sum (6 x k)) of `cells`' buckets lying
        inside [start, end) (callers align start and end on the width)."""
        lo_bucket = -(-max(start, 0) // self.width_us)
        hi_bucket = end // self.width_us  # buckets ending by `end`
        lo, hi = np.searchsorted(self.keys, (lo_bucket << CELL_BITS, hi_bucket << CELL_BITS))
        keys = self.keys[lo:hi]
        wanted = np.isin(keys & CELL_MASK, cells)
        return (keys[wanted] >> CELL_BITS) * self.width_us, self.data[:, lo:hi][:, wanted].copy()

    def load(self, keys: np.ndarray, data: np.ndarray) -> None:
        self._keys = keys.astype(np.int64)
        self._data = np.array(data, dtype=np.float64).reshape(ROWS, -1)
        self.size = int(self._keys.shape[0])

    def nbytes(self) -> int:
        return self.size * 8 * (ROWS + 1)
