"""The newest reading of every sensor, O(1) to read: its present (metric, value) pairs live
in an append-only arena, each sensor pointing at its run; the arena is compacted when dead
runs outweigh live ones (at a point that depends only on the data: deterministic)."""

from __future__ import annotations

import numpy as np

from lithair_node.machine.engine.ranges import ranges_to_indices

_COMPACT_SLACK = 4096


class LatestValues:
    def __init__(self) -> None:
        self.start = np.zeros(0, dtype=np.int64)  # per sensor number
        self.length = np.zeros(0, dtype=np.int64)
        self._metric = np.empty(0, dtype=np.int32)
        self._value = np.empty(0, dtype=np.float64)
        self._size = 0
        self._live = 0

    def grow_sensors(self, count: int) -> None:
        extra = count - self.start.shape[0]
        if extra > 0:
            self.start = np.concatenate((self.start, np.zeros(extra, np.int64)))
            self.length = np.concatenate((self.length, np.zeros(extra, np.int64)))

    def update(self, sensors: np.ndarray, metric_ids: np.ndarray, values: np.ndarray) -> None:
        """New newest readings of distinct `sensors`; values is (metrics x sensors), NaN absent."""
        by_reading = values.T
        present = ~np.isnan(by_reading)
        reading, metric = np.nonzero(present)
        lengths = present.sum(axis=1)
        k = reading.shape[0]
        self._live += int(lengths.sum() - self.length[sensors].sum())
        if self._size + k > self._metric.shape[0]:
            self._reserve(self._size + k)
        self._metric[self._size : self._size + k] = metric_ids[metric]
        self._value[self._size : self._size + k] = by_reading[present]
        self.start[sensors] = self._size + np.cumsum(lengths) - lengths
        self.length[sensors] = lengths
        self._size += k
        if self._size > 2 * self._live + _COMPACT_SLACK:
            self._compact()

    def of(self, sensor: int) -> tuple[np.ndarray, np.ndarray]:
        """(metric ids, values) of the sensor's newest reading."""
        a = int(self.start[sensor])
        b = a + int(self.length[sensor])
        return self._metric[a:b], self._value[a:b]

    def _reserve(self, needed: int) -> None:
        capacity = max(needed, 2 * self._metric.shape[0], 1024)
        metric, value = np.empty(capacity, np.int32), np.empty(capacity, np.float64)
        metric[: self._size], value[: self._size] = self._metric[: self._size], self._value[: self._size]
        self._metric, self._value = metric, value  # new arrays: earlier views stay valid

    def _compact(self) -> None:
        picked = ranges_to_indices(self.start, self.start + self.length)
        self._metric, self._value = self._metric[picked], self._value[picked]
        self.start = np.cumsum(self.length) - self.length
        self._size = self._live = int(picked.shape[0])

    def export(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(length per sensor, metric ids, values) in sensor order: the compacted form."""
        picked = ranges_to_indices(self.start, self.start + self.length)
        return self.length.copy(), self._metric[picked], self._value[picked]

    def load(self, length: np.ndarray, metric: np.ndarray, value: np.ndarray) -> None:
        self.length = length.astype(np.int64)
        self.start = np.cumsum(self.length) - self.length
        self._metric, self._value = metric.astype(np.int32), value.astype(np.float64)
        self._size = self._live = int(metric.shape[0])

    def nbytes(self) -> int:
        return self.start.nbytes + self.length.nbytes + self._metric.nbytes + self._value.nbytes
