"""The hot buffer: whole batches appended in arrival order, in columns (Prometheus' head).

Rows hold (sensor number, timestamp); metric values are stored sparsely as (row, metric,
value) triples in row order, so a reading costs only the values it carries. Sealing
(segment.py) takes everything and the buffer starts empty again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lithair_node.machine.engine import hot_index
from lithair_node.machine.engine.hot_index import HotIndex
from lithair_node.machine.engine.ranges import ranges_to_indices


@dataclass(frozen=True)
class HotView:
    sensor: np.ndarray  # per row
    ts: np.ndarray
    row: np.ndarray  # per triple, ascending
    metric: np.ndarray
    value: np.ndarray
    # The buffer's rows by sensor (hot_index.py), shared by its views and built by readers.
    index: HotIndex = field(default_factory=HotIndex, compare=False, repr=False)

    def _pieces(self) -> tuple[hot_index.Piece, ...]:
        return self.index.pieces(self.sensor, self.row)

    def rows_of(self, sensor: int) -> np.ndarray:
        """Rows of one sensor, in arrival order (int64): binary searches in the index."""
        return hot_index.rows_of(self._pieces(), self.sensor.shape[0], sensor)

    def rows_of_many(self, sensors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, sensor of each) of several distinct sensors: by sensor number, each
        sensor's rows in arrival order."""
        rows, of = hot_index.rows_of_many(self._pieces(), self.sensor.shape[0], sensors)
        order = np.argsort(of, kind="stable")  # pieces come one after the other
        return rows[order], of[order]

    def dense(self, rows: np.ndarray, row_of_metric: np.ndarray, width: int) -> np.ndarray:
        """Values of `rows` as (width x len(rows)), NaN = absent; row_of_metric maps a metric
        id to its output row (-1: not wanted)."""
        out = np.full((width, rows.shape[0]), np.nan)
        lo, hi = hot_index.triple_bounds(self._pieces(), rows)
        picked = ranges_to_indices(lo, hi)
        position = np.repeat(np.arange(rows.shape[0]), hi - lo)
        out_row = row_of_metric[self.metric[picked]]
        wanted = out_row >= 0
        out[out_row[wanted], position[wanted]] = self.value[picked[wanted]]
        return out


def _grown(array: np.ndarray, needed: int) -> np.ndarray:
    if needed <= array.shape[0]:
        return array
    bigger = np.empty(max(needed, array.shape[0] * 3 // 2, 1024), dtype=array.dtype)
    bigger[: array.shape[0]] = array
    return bigger


class HotBuffer:
    def __init__(self, rows: int = 0, triples: int = 0) -> None:
        """`rows`, `triples`: capacity to reserve (pages are touched only when written)."""
        self.rows = 0
        self.triples = 0
        self._sensor = np.empty(rows, dtype=np.int32)
        self._ts = np.empty(rows, dtype=np.int64)
        self._row = np.empty(triples, dtype=np.int32)
        self._metric = np.empty(triples, dtype=np.int32)
        self._value = np.empty(triples, dtype=np.float64)
        self._index = HotIndex()
        self._view: HotView | None = None

    def append(self, sensors: np.ndarray, ts: np.ndarray, metric_ids: np.ndarray,
               values: np.ndarray) -> None:
        """Readings (sensor number, ts) with their dense values (metrics x readings, NaN =
        absent; the log entry's layout), kept as triples of the present values."""
        n, r = ts.shape[0], self.rows
        self._sensor = _grown(self._sensor, r + n)
        self._ts = _grown(self._ts, r + n)
        self._sensor[r : r + n] = sensors
        self._ts[r : r + n] = ts
        by_reading = values.T
        absent = np.isnan(by_reading)
        m, t = metric_ids.shape[0], self.triples
        k = n * m if not absent.any() else n * m - int(absent.sum())
        self._row = _grown(self._row, t + k)
        self._metric = _grown(self._metric, t + k)
        self._value = _grown(self._value, t + k)
        if k == n * m:  # every reading carries every metric (the usual batch): no index pass
            self._row[t : t + k].reshape(n, m)[:] = np.arange(r, r + n, dtype=np.int32)[:, None]
            self._metric[t : t + k].reshape(n, m)[:] = metric_ids
            self._value[t : t + k].reshape(n, m)[:] = by_reading
        else:
            present = ~absent
            reading, metric = np.nonzero(present)  # reading-major: triples stay in row order
            self._row[t : t + k] = reading + r
            self._metric[t : t + k] = metric_ids[metric]
            self._value[t : t + k] = by_reading[present]
        self.rows, self.triples = r + n, t + k

    def view(self) -> HotView:
        """What is held now, as views that later appends and clear() leave unchanged."""
        r, t = self.rows, self.triples
        if self._view is None or self._view.sensor.shape[0] != r or self._view.row.shape[0] != t:
            self._view = HotView(self._sensor[:r], self._ts[:r], self._row[:t], self._metric[:t],
                                 self._value[:t], self._index)
        return self._view  # unchanged since the last view: the same one (reads between writes)

    def clear(self) -> None:
        # Fresh arrays rather than rewinding: views handed to readers stay valid.
        self.__init__(self._ts.shape[0], self._value.shape[0])  # type: ignore[misc]

    def nbytes(self) -> int:
        """Bytes of what is held (capacity beyond it is allocated but never touched)."""
        return self.rows * 12 + self.triples * 16

    def load(self, sensor: np.ndarray, ts: np.ndarray, row: np.ndarray, metric: np.ndarray,
             value: np.ndarray) -> None:
        self._sensor, self._ts = sensor.astype(np.int32), ts.astype(np.int64)
        self._row, self._metric, self._value = (row.astype(np.int32), metric.astype(np.int32),
                                                value.astype(np.float64))
        self.rows, self.triples = int(ts.shape[0]), int(value.shape[0])
        self._index = HotIndex()  # rows an index of the old arrays described are gone
        self._view = None

    def load_with_room(self, sensor: np.ndarray, ts: np.ndarray, row: np.ndarray,
                       metric: np.ndarray, value: np.ndarray) -> None:
        """load(), keeping the room this buffer has (restore): its arrays then stay the same
        objects until the next cut, as after appends, which lets a linked snapshot write
        only the rows appended since the last one (node/raft/segment_files.py)."""
        rows, triples = self._ts.shape[0], self._value.shape[0]
        self.load(sensor, ts, row, metric, value)
        self._sensor, self._ts = _grown(self._sensor, rows), _grown(self._ts, rows)
        self._row, self._metric = _grown(self._row, triples), _grown(self._metric, triples)
        self._value = _grown(self._value, triples)
