"""Cells: one per (sensor number, metric id) pair, numbered in apply order, found for a
whole batch with one binary search over a sorted key array (no dict, no Python loop)."""

from __future__ import annotations

import numpy as np

METRIC_BITS = 16  # metric ids stay below 2**16: the cluster-wide limit on metric names is lower
METRIC_MASK = (1 << METRIC_BITS) - 1


def cell_keys(sensors: np.ndarray, metrics: np.ndarray) -> np.ndarray:
    return (sensors.astype(np.int64) << METRIC_BITS) | metrics.astype(np.int64)


def room(array: np.ndarray, used: int, needed: int) -> np.ndarray:
    """`array` if it holds `needed`, else a larger copy of its first `used` items: never
    written in place below `used`, so slices handed out earlier stay valid."""
    if needed <= array.shape[0]:
        return array
    bigger = np.empty(max(needed, array.shape[0] * 3 // 2, 1024), dtype=array.dtype)
    bigger[:used] = array[:used]
    return bigger


class CellIndex:
    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.int64)  # sorted below count; capacity beyond
        self._cells = np.empty(0, dtype=np.int64)  # cell of each key
        self.count = 0
        # Per sensor, where its keys start (CSR offsets, capacity beyond _covered + 1):
        # keys of s are [_starts[s], _starts[s + 1]) for s < _covered, and _starts[_covered]
        # is count. A gather where a binary search per sensor would miss the cache ~20 times
        # (0.03 vs 0.33 ms for 1,000 sensors among 500K keys). None: rebuilt when asked.
        self._starts: np.ndarray | None = np.zeros(1, dtype=np.int64)
        self._covered = 0

    @property
    def keys(self) -> np.ndarray:
        return self._keys[: self.count]

    @property
    def cells(self) -> np.ndarray:
        return self._cells[: self.count]

    def cells_of_pairs(self, sensors: np.ndarray, metrics: np.ndarray, metric_row: np.ndarray,
                       group: np.ndarray) -> tuple[np.ndarray, int]:
        """cells_of the keys (sensors[group], metrics[metric_row]). Guessed first: a sensor's
        keys are one sorted run, so when it holds just the batch's metrics, the cell of its
        j-th smallest metric id sits j after its first key (one search per sensor, not per
        pair); only wrong guesses are searched for."""
        keys = cell_keys(sensors[group], metrics[metric_row])
        known = self.keys
        if not known.shape[0]:
            return self.cells_of(keys)
        if int(sensors.min(initial=1 << 62)) > int(known[-1]) >> METRIC_BITS:
            # Sensors numbered past every known key (all new: a registering batch): every
            # key is missing, so what cells_of would find by searching, without the searches.
            return self._add(keys), int(keys.shape[0])
        rank = np.argsort(np.argsort(metrics, kind="stable"), kind="stable")
        first = self.bounds(sensors)[0]
        pos = np.minimum(first[group] + rank[metric_row], known.shape[0] - 1)
        return self.cells_of(keys, pos)

    def cells_of(self, keys: np.ndarray, guess: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Cells of `keys` (distinct), creating the missing ones in the order given; also
        returns how many were created (their cells are count - created .. count - 1).
        `guess`: positions in the key array to try before searching (in range)."""
        known = self.keys
        if guess is None:
            pos = np.searchsorted(known, keys)
        else:
            pos = guess
            wrong = np.flatnonzero(known[pos] != keys)
            if not wrong.shape[0]:  # every guess right (known sensors, known metrics)
                return self.cells[pos], 0
            pos[wrong] = np.searchsorted(known, keys[wrong])
        found = pos < known.shape[0]
        found[found] = known[pos[found]] == keys[found]
        cells = np.empty(keys.shape[0], dtype=np.int64)
        cells[found] = self.cells[pos[found]]
        missing = np.flatnonzero(~found)
        if missing.shape[0]:
            cells[missing] = self._add(keys[missing])
        return cells, int(missing.shape[0])

    def _add(self, new_keys: np.ndarray) -> np.ndarray:
        """New cells count, count + 1, ... for `new_keys` (distinct, none known) in the order
        given, their keys inserted in sorted place; returns the cells."""
        k, count, known = int(new_keys.shape[0]), self.count, self.keys
        added = np.arange(count, count + k, dtype=np.int64)
        order = np.argsort(new_keys, kind="stable")
        new_keys, new_cells = new_keys[order], added[order]
        if not count or new_keys[0] > known[-1]:
            # New sensors are numbered past every known one: their keys sort last, an
            # append (no O(cells) insert per batch while sensors keep arriving).
            self._keys = room(self._keys, count, count + k)
            self._cells = room(self._cells, count, count + k)
            self._keys[count : count + k] = new_keys
            self._cells[count : count + k] = new_cells
            self._extend_starts(new_keys, count)
        else:
            at = np.searchsorted(known, new_keys)
            self._keys = np.insert(known, at, new_keys)
            self._cells = np.insert(self.cells, at, new_cells)
            self._starts = None  # positions moved: rebuilt, O(cells) as the insert was
        self.count = count + k
        return added

    def _extend_starts(self, appended: np.ndarray, count: int) -> None:
        """Offsets of the sensors of keys appended (sorted, past every known key) at
        position `count`: only theirs are new, earlier sensors' keys did not move."""
        if self._starts is None:
            return
        covered = self._covered
        top = (int(appended[-1]) >> METRIC_BITS) + 1
        self._starts = room(self._starts, covered + 1, top + 1)
        sensors = np.arange(covered, top + 1, dtype=np.int64) << METRIC_BITS
        self._starts[covered : top + 1] = count + np.searchsorted(appended, sensors)
        self._covered = top

    def _starts_now(self) -> np.ndarray:
        if self._starts is None:
            keys = self.keys
            top = (int(keys[-1]) >> METRIC_BITS) + 1 if keys.shape[0] else 0
            per_sensor = np.bincount(keys >> METRIC_BITS, minlength=top)
            self._starts = np.concatenate(([0], np.cumsum(per_sensor))).astype(np.int64)
            self._covered = top
        return self._starts

    def bounds(self, sensors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[lo, hi) of each sensor number's keys (sensors >= 0): what two binary searches
        of (s << METRIC_BITS, (s + 1) << METRIC_BITS) in the keys give, by two gathers."""
        starts, covered = self._starts_now(), self._covered
        at = np.minimum(sensors, covered)  # past every key's sensor: lo = hi = count
        return starts[at], starts[np.minimum(at + 1, covered)]

    def metrics_of(self, sensor: int) -> tuple[np.ndarray, np.ndarray]:
        """(metric ids ascending, their cells) of one sensor: two binary searches."""
        lo, hi = np.searchsorted(self.keys, (sensor << METRIC_BITS, (sensor + 1) << METRIC_BITS))
        return self.keys[lo:hi] & METRIC_MASK, self.cells[lo:hi]

    def load(self, keys: np.ndarray, cells: np.ndarray) -> None:
        self._keys, self._cells = keys.astype(np.int64), cells.astype(np.int64)
        self.count = int(cells.shape[0])
        self._starts = None

    def nbytes(self) -> int:
        """Bytes of the keys, their cells and the per-sensor offsets."""
        offsets = 0 if self._starts is None else 8 * (self._covered + 1)
        return self.keys.nbytes + self.cells.nbytes + offsets
