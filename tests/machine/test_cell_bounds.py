"""CellIndex.bounds (per-sensor offsets kept beside the keys) against the binary searches
it replaces, through appends (new sensors), inserts (known sensors gaining metrics), load."""

from __future__ import annotations

import numpy as np

from lithair_node.machine.engine.cells import METRIC_BITS, CellIndex, cell_keys


def _searched(index: CellIndex, sensors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = index.keys
    return (np.searchsorted(keys, sensors << METRIC_BITS),
            np.searchsorted(keys, (sensors + 1) << METRIC_BITS))


def _check(index: CellIndex, top: int) -> None:
    sensors = np.arange(top + 3, dtype=np.int64)
    lo, hi = index.bounds(sensors)
    want_lo, want_hi = _searched(index, sensors)
    assert np.array_equal(lo, want_lo) and np.array_equal(hi, want_hi)


def test_bounds_follow_appends_inserts_and_load() -> None:
    rng = np.random.default_rng(7)
    index = CellIndex()
    _check(index, 0)
    next_sensor = 0
    for step in range(60):
        if step % 3 == 2 and next_sensor:  # known sensors gain a metric: keys inserted
            sensors = rng.choice(next_sensor, min(5, next_sensor), replace=False)
            metrics = np.full(sensors.shape[0], 100 + step)
        else:  # new sensors, numbered past every known one: an append
            n = int(rng.integers(1, 8))
            sensors = np.repeat(np.arange(next_sensor, next_sensor + n), 3)
            metrics = np.tile(np.array([2, 0, 5]), n)
            next_sensor += n
        index.cells_of(cell_keys(sensors, metrics))
        _check(index, next_sensor)
    restored = CellIndex()
    restored.load(index.keys.copy(), index.cells.copy())
    _check(restored, next_sensor)
    assert restored.nbytes() == index.nbytes()
