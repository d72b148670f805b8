"""merge_columns gives exactly what its first version gave (kept below as the reference):
apply merges on every node, and nodes of two versions must store the same thing."""

from __future__ import annotations

import random

import numpy as np
import pytest

from lithair_node.machine.commands import COUNT_DTYPE, VALUE_DTYPE, BatchColumns, merge_columns


def _reference(batches: list[BatchColumns]) -> tuple[BatchColumns, np.ndarray]:
    sensors = sorted(set().union(*(b.sensors for b in batches)))
    metrics = sorted(set().union(*(b.metrics for b in batches)))
    rank = {sensor: i for i, sensor in enumerate(sensors)}
    metric_rank = {name: i for i, name in enumerate(metrics)}
    sizes = [b.readings for b in batches]
    group = np.concatenate([
        np.repeat(np.fromiter(map(rank.__getitem__, b.sensors), np.int64, len(b.sensors)),
                  b.counts.astype(np.int64))
        for b in batches
    ])
    ts = np.concatenate([b.ts for b in batches])
    origin = np.repeat(np.arange(len(batches), dtype=np.int64), sizes)
    values = np.full((len(metrics), int(ts.shape[0])), np.nan, dtype=VALUE_DTYPE)
    start = 0
    for b, size in zip(batches, sizes, strict=True):
        values[[metric_rank[name] for name in b.metrics], start:start + size] = b.values
        start += size
    order = np.lexsort((origin, ts, group))
    group, ts, origin, values = group[order], ts[order], origin[order], values[:, order]
    keep = np.ones(ts.shape[0], dtype=bool)
    keep[1:] = (group[1:] != group[:-1]) | (ts[1:] != ts[:-1])
    group, ts, origin, values = group[keep], ts[keep], origin[keep], values[:, keep]
    location_of: dict[str, str] = {}
    for b in batches:
        for sensor, location in zip(b.sensors, b.locations, strict=True):
            if location is not None:
                location_of[sensor] = location
    merged = BatchColumns(sensors, np.bincount(group, minlength=len(sensors)).astype(COUNT_DTYPE),
                          [location_of.get(s) for s in sensors], ts, metrics,
                          np.ascontiguousarray(values), 0)
    return merged, origin


def _batch(rng: random.Random, pool: list[str], sort: bool) -> BatchColumns:
    sensors = rng.sample(pool, rng.randint(1, len(pool)))
    if sort:
        sensors.sort()  # as validation sends them; a foreign proposer need not
    counts = np.asarray([rng.randint(1, 4) for _ in sensors], dtype=COUNT_DTYPE)
    ts = np.concatenate([np.sort(rng.sample(range(12), int(c))) for c in counts]).astype(np.int64)
    metrics = sorted(rng.sample(["a", "b", "c"], rng.randint(1, 3)))
    values = np.asarray([[rng.choice([1.0, 2.0, np.nan]) for _ in ts] for _ in metrics])
    kinds = rng.choice(["all", "some", "none"])
    locations = [None if kinds == "none" or (kinds == "some" and rng.random() < 0.5)
                 else rng.choice(["n", "s", ""]) for _ in sensors]
    return BatchColumns(sensors, counts, locations, ts, metrics, values, 0)


@pytest.mark.parametrize("seed", range(40))
def test_merge_columns_matches_its_first_version(seed: int) -> None:
    rng = random.Random(seed)
    pool = [f"s{i:03d}" for i in range(rng.choice([2, 8, 40]))]
    batches = [_batch(rng, pool, sort=seed % 4 != 0) for _ in range(rng.randint(2, 5))]
    got, got_origin = merge_columns(batches)
    want, want_origin = _reference(batches)
    assert got.sensors == want.sensors
    assert got.locations == want.locations
    assert got.metrics == want.metrics
    assert got.counts.tolist() == want.counts.tolist()
    assert got.ts.tolist() == want.ts.tolist()
    assert got.values.tobytes() == want.values.tobytes()
    assert got_origin.tolist() == want_origin.tolist()
