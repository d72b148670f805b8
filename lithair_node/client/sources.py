"""Where injected readings come from: a synthetic fleet, or a replayed data file."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lithair_node.api import US_PER_SECOND
from lithair_node.client.formats import intel_lab

FORMATS = ("intel-lab",)


def synthetic_reading(rng: random.Random, sensor_id: str, timestamp_s: float, location: str,
                      phase: float, tick: int) -> dict[str, Any]:
    """One plausible reading: slow sines plus noise, drawn from `rng` in a fixed order (the
    same seed gives the same readings)."""
    angle = phase + tick / 600.0
    return {
        "sensor_id": sensor_id,
        "timestamp": timestamp_s,
        "location": location,
        "temperature": round(21.0 + 4.0 * math.sin(angle) + rng.gauss(0, 0.2), 3),
        "humidity": round(45.0 + 10.0 * math.cos(angle) + rng.gauss(0, 0.5), 3),
        "pressure": round(1013.0 + rng.gauss(0, 1.5), 2),
        "light": round(max(0.0, 300.0 + 250.0 * math.sin(angle / 2)), 1),
        "voltage": round(2.9 - tick * 1e-6 + rng.gauss(0, 0.005), 4),
    }


def synthetic_batches(
    sensors: int, batch_size: int, *, seed: int = 1, start_us: int | None = None,
    interval_us: int = US_PER_SECOND, prefix: str = "sensor",
) -> Iterator[list[dict[str, Any]]]:
    """An endless stream of plausible readings: each sensor reports every `interval_us`,
    round-robin, so (sensor, timestamp) never repeats within a run."""
    rng = random.Random(seed)
    start = start_us if start_us is not None else int(time.time() * US_PER_SECOND)
    ids = [f"{prefix}-{i:05d}" for i in range(sensors)]
    rooms = [f"room-{i % 50:02d}" for i in range(sensors)]
    phase = [rng.random() * math.tau for _ in range(sensors)]
    k = 0
    while True:
        batch = []
        for _ in range(batch_size):
            s, tick = k % sensors, k // sensors
            batch.append(synthetic_reading(rng, ids[s], (start + tick * interval_us) / US_PER_SECOND,
                                           rooms[s], phase[s], tick))
            k += 1
        yield batch


def file_batches(path: str | Path, fmt: str, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    if fmt != "intel-lab":
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    batch: list[dict[str, Any]] = []
    for parsed in intel_lab.iter_file(path):
        if parsed.reading is None:
            continue
        batch.append(parsed.reading)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
