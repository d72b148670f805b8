"""The newest reading of every sensor, O(1) to read: per cell, the timestamp and value of
its newest reading. A sensor's newest reading holds exactly its cells whose timestamp is
the sensor's last one, so no per-sensor structure is needed (and apply only scatters)."""

from __future__ import annotations

import numpy as np

NO_TS = np.iinfo(np.int64).min


class CellLatest:
    def __init__(self) -> None:
        self.ts = np.empty(0, dtype=np.int64)  # per cell
        self.value = np.empty(0, dtype=np.float64)

    def add_cells(self, total: int) -> None:
        extra = total - self.ts.shape[0]
        if extra > 0:  # grown 1.5x: new arrays, so views taken earlier stay valid
            capacity = max(total, self.ts.shape[0] * 3 // 2)
            ts, value = np.full(capacity, NO_TS), np.full(capacity, np.nan)
            ts[: self.ts.shape[0]], value[: self.ts.shape[0]] = self.ts, self.value
            self.ts, self.value = ts, value

    def update(self, cells: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:
        """Cells (distinct) whose newest reading is now (ts, value)."""
        self.ts[cells] = ts
        self.value[cells] = values

    def of(self, cells: np.ndarray, last_ts: int) -> tuple[np.ndarray, np.ndarray]:
        """Which of a sensor's `cells` its newest reading (at `last_ts`) has, and the values."""
        newest = self.ts[cells] == last_ts
        return newest, self.value[cells][newest]

    def export(self, cells: int) -> tuple[np.ndarray, np.ndarray]:
        return self.ts[:cells], self.value[:cells]

    def load(self, ts: np.ndarray, value: np.ndarray) -> None:
        self.ts, self.value = ts.astype(np.int64), value.astype(np.float64)

    def nbytes(self) -> int:
        return self.ts.nbytes + self.value.nbytes
