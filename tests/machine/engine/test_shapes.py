"""Reused batch shapes (engine/shapes.py) give the very state apply computes without them."""

from __future__ import annotations

import numpy as np
import pytest

from lithair_node.machine.commands import (
    COUNT_DTYPE,
    BatchColumns,
    encode_ingest,
    encode_settings,
    make_encoded_batch,
)
from lithair_node.machine.engine.shapes import Shapes, run_of
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.state import StateMachine


def _entries(seed: int) -> list[bytes]:
    """Recurring sensor lists whose locations, metrics and pairs with a value change now
    and then, with late and repeated readings."""
    rng = np.random.default_rng(seed)
    lists = [[f"s{i:03d}" for i in range(a, a + 40)] for a in (0, 20, 100)]
    entries = [encode_settings({"anomalies": {"min_count": 2, "sigma": 1.0, "cooldown_us": 0}})]
    for k in range(60):
        sensors = lists[int(rng.integers(len(lists)))]
        metrics = ["a", "b", "c"] if rng.random() < 0.7 else ["a", "c", "d"]
        n = len(sensors)
        ts = np.full(n, 1_000_000 * (k - int(rng.integers(0, 3))), dtype=np.int64)
        values = rng.normal(0, 1, (len(metrics), n))
        if rng.random() < 0.3:
            values[rng.random(values.shape) < 0.2] = np.nan
        locations = [f"room-{int(rng.integers(3))}" if rng.random() < 0.3 else "room-0"
                     for _ in sensors]
        if rng.random() < 0.2:
            locations = [None] * n
        columns = BatchColumns(sensors, np.ones(n, dtype=COUNT_DTYPE), locations, ts,
                               metrics, values, 0)
        entries.append(encode_ingest([make_encoded_batch(columns, None, n)]))
    return entries


def _state(entries: list[bytes]) -> StateMachine:
    state = StateMachine()
    for index, payload in enumerate(entries, start=1):
        assert state.apply(LogEntry(index, 1, payload)).error is None
    return state


@pytest.mark.parametrize("seed", range(4))
def test_shapes_change_nothing(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = _entries(seed)
    cached = _state(entries)
    monkeypatch.setattr(Shapes, "get", lambda self, sensors: None)
    monkeypatch.setattr(Shapes, "put", lambda self, sensors, numbers: None)
    fresh = _state(entries)
    assert cached.digest() == fresh.digest()
    assert cached.snapshot() == fresh.snapshot()
    assert cached.anomalies() == fresh.anomalies() and cached.anomalies()[2] > 100
    assert cached.locations() == fresh.locations()


def test_run_of() -> None:
    assert run_of(np.arange(5, 9)) == slice(5, 9)
    assert run_of(np.array([5, 7, 6, 8])) is None  # consecutive as a set, not in order
    assert run_of(np.array([5, 6, 8])) is None
    assert run_of(np.empty(0, dtype=np.int64)) is None
