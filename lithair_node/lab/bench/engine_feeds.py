"""What bench/engine.py feeds: pre-validated synthetic batches as log entries (two shapes,
FEEDS), and an Intel-Lab-like stream of wide batches built straight as columns (10M readings
would take minutes through the JSON validator)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from lithair_node.client.sources import synthetic_batches, synthetic_reading
from lithair_node.machine.commands import COUNT_DTYPE, BatchColumns, encode_ingest, make_encoded_batch
from lithair_node.node.ingest.validation import Limits, validate_batch

START_US = 1_700_000_000_000_000
INTEL_METRICS = ("humidity", "light", "temperature", "voltage")  # sorted, as validation sorts
INTEL_DECIMALS = (4, 2, 4, 5)  # what the Intel Lab file carries
EPOCH_US = 31_000_000  # the Intel Lab motes' sampling period


def synthetic_entries(sensors: int, batch: int, readings: int) -> list[bytes]:
    """Log entries of one pre-validated batch each (validation outside any timing)."""
    entries = []
    for number, body in enumerate(itertools.islice(
            synthetic_batches(sensors, batch, start_us=START_US), max(1, readings // batch))):
        columns, received = validate_batch({"readings": body}, Limits(max_readings=batch))
        entries.append(encode_ingest([make_encoded_batch(columns, f"bench-{number}", received)]))
    return entries


def random_entries(sensors: int, batch: int, readings: int, seed: int = 1) -> list[bytes]:
    """Log entries whose readings each come from a sensor drawn uniformly at random among
    `sensors`, so a batch's sensor list (and its groups' sizes) rarely repeats: the shape
    cache (engine/shapes.py) misses, as it does for entries group commit packs from many
    clients. Reading k of the feed has timestamp START_US + k ms: (sensor, ts) never
    repeats and each sensor's readings ascend across entries, so no reading is late and
    none a duplicate (the dedup path is not what this measures)."""
    rng = random.Random(seed)
    ids = [f"sensor-{i:05d}" for i in range(sensors)]
    rooms = [f"room-{i % 50:02d}" for i in range(sensors)]
    phase = [rng.random() * math.tau for _ in range(sensors)]
    seen = [0] * sensors  # readings of each sensor so far: its synthetic_batches tick
    entries = []
    for number in range(max(1, readings // batch)):
        body: list[dict[str, Any]] = []
        for j in range(batch):
            s = rng.randrange(sensors)
            tick = seen[s]
            seen[s] += 1
            body.append(synthetic_reading(rng, ids[s], (START_US + (number * batch + j) * 1000) / 1e6,
                                          rooms[s], phase[s], tick))
        columns, received = validate_batch({"readings": body}, Limits(max_readings=batch))
        assert columns.readings == batch  # nothing dropped as an in-batch repeat
        entries.append(encode_ingest([make_encoded_batch(columns, f"bench-{number}", received)]))
    return entries


# name -> entries(sensors, batch, readings): "gateway" repeats each batch's sensor list
# (round-robin, the shape cache's best case), "random" draws every reading's sensor.
FEEDS: dict[str, Callable[[int, int, int], list[bytes]]] = {
    "gateway": synthetic_entries, "random": random_entries}


def intel_like_batches(sensors: int, batch: int, readings: int, seed: int = 1) -> Iterator[BatchColumns]:
    """Wide batches (one reading of each of `batch` consecutive motes), values slowly
    varying per mote with the Intel Lab file's decimals, timestamps jittered by up to 1 s."""
    rng = np.random.default_rng(seed)
    ids = [f"mote-{i:05d}" for i in range(sensors)]
    level = np.array([[40.0], [300.0], [21.0], [2.7]]) + rng.normal(0, 1, (4, sensors))
    step = np.array([[0.05], [2.0], [0.02], [0.0005]])
    groups_per_round = max(1, sensors // batch)
    for k in range(readings // batch):
        first = (k % groups_per_round) * batch
        motes = slice(first, first + batch)
        level[:, motes] += rng.normal(0, 1, (4, batch)) * step
        values = np.vstack([np.round(level[row, motes], d) for row, d in enumerate(INTEL_DECIMALS)])
        tick = k // groups_per_round
        ts = START_US + tick * EPOCH_US + rng.integers(-500, 500, batch) * 1000
        yield BatchColumns(ids[motes], np.ones(batch, dtype=COUNT_DTYPE), [None] * batch, ts,
                           list(INTEL_METRICS), values, 0)
