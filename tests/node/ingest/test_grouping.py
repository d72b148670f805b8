"""group_by_sensor against a plain reference: both orderings (few ids ranked through a dict,
many ids sorted), duplicates within the batch, and locations given by sensor or by reading."""

from __future__ import annotations

import random

import numpy as np
import pytest

from lithair_node.machine.commands import BatchColumns
from lithair_node.node.ingest.grouping import FEW_SENSORS, group_by_sensor


def _reference(sensor_of: list[str], ts: np.ndarray, locations: dict[str, str] | list[str],
               names: list[str], values: np.ndarray) -> BatchColumns:
    """One reading at a time: sensors sorted, each group by (ts, request order), the first
    of a repeated (sensor, ts) kept, the last location a sensor's readings give."""
    if isinstance(locations, list):
        by_sensor = dict(zip(sensor_of, locations, strict=True))
    else:
        by_sensor = dict(locations)
    sensors = sorted(set(sensor_of))
    order = sorted(range(len(sensor_of)), key=lambda i: (sensor_of[i], int(ts[i]), i))
    kept: list[int] = []
    for i in order:
        if kept and sensor_of[kept[-1]] == sensor_of[i] and ts[kept[-1]] == ts[i]:
            continue
        kept.append(i)
    counts = [sum(1 for i in kept if sensor_of[i] == s) for s in sensors]
    return BatchColumns(sensors, np.asarray(counts, dtype=np.uint32),
                        [by_sensor.get(s) for s in sensors], ts[kept], names, values[:, kept],
                        len(sensor_of) - len(kept))


def _batch(rng: random.Random, n: int, distinct: int, round_robin: bool) -> tuple[list[str], np.ndarray]:
    ids = [f"s-{rng.randrange(10 ** 6):06d}" for _ in range(distinct)]
    sensor_of = [ids[i % distinct] for i in range(n)] if round_robin else \
        [rng.choice(ids) for _ in range(n)]
    ts = np.asarray([rng.randrange(n // 2 + 1) for _ in range(n)], dtype=np.int64)  # repeats
    return sensor_of, ts


@pytest.mark.parametrize("distinct", [1, 3, 250, 999, 1000])
@pytest.mark.parametrize("round_robin", [True, False])
@pytest.mark.parametrize("by_reading", [True, False])
def test_group_by_sensor_matches_reference(distinct: int, round_robin: bool, by_reading: bool) -> None:
    rng = random.Random(distinct * 4 + round_robin * 2 + by_reading)
    n = 1000
    sensor_of, ts = _batch(rng, n, distinct, round_robin)
    values = np.arange(2 * n, dtype=np.float64).reshape(2, n)
    reading_locations = [f"room-{rng.randrange(5)}" for _ in range(n)]
    locations: dict[str, str] | list[str] = reading_locations if by_reading else \
        {s: loc for s, loc in zip(sensor_of, reading_locations, strict=True) if s[-1] != "7"}
    got = group_by_sensor(sensor_of, ts, locations, ["a", "b"], values)
    want = _reference(sensor_of, ts, locations, ["a", "b"], values)
    assert got.sensors == want.sensors
    assert got.counts.tolist() == want.counts.tolist()
    assert got.locations == want.locations
    assert got.ts.tolist() == want.ts.tolist()
    assert np.array_equal(got.values, want.values)
    assert got.in_batch_duplicates == want.in_batch_duplicates
    assert want.in_batch_duplicates > 0 or distinct > n // 2  # repeats were there to drop


def test_both_orderings_are_exercised() -> None:
    # The parametrisation above spans the threshold between the two orderings.
    assert 3 * FEW_SENSORS <= 1000 < 999 * FEW_SENSORS
