"""The readings bench_queries stores: two layouts of generated sensors, built into a
StateMachine by applying real encoded log entries (1% late, 0.1% duplicates), and kept
as one flat table for the baseline scans."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from lithair_node.machine.commands import BatchColumns, encode_ingest, make_encoded_batch
from lithair_node.machine.state import LogEntry, StateMachine

METRICS = ["humidity", "pressure", "temperature", "voltage"]
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def step_for(per_sensor: int) -> int:
    """One reading per sensor every 10 s, or sparser so that a series spans two days."""
    return max(10_000_000, -(-2 * DAY_US // per_sensor) // 1_000_000 * 1_000_000 + 1_000_000)
LOCATIONS = 50


def sensor_name(i: int) -> str:
    return f"sensor-{i:05d}"


def location_of(i: int) -> str:
    return f"room-{i % LOCATIONS:02d}"


def values_for(sensor: np.ndarray, tick: np.ndarray) -> np.ndarray:
    phase = sensor * 0.37
    t = tick.astype(np.float64)
    temperature = 21 + 4 * np.sin(t / 360 + phase) + 0.3 * np.sin(t * 1.7 + 3 * phase)
    temperature = temperature + np.where(tick % 5003 == 17, 25.0, 0.0)  # rare spikes
    humidity = 45 + 10 * np.cos(t / 500 + phase) + 0.5 * np.sin(t * 2.3)
    pressure = 1013 + 2 * np.sin(t / 5000 + phase)
    voltage = 3.0 - t * 1e-7 + 0.01 * np.sin(t * 0.9)
    return np.vstack((humidity, pressure, temperature, voltage))  # METRICS order


@dataclass
class Dataset:
    state: StateMachine
    table_sensor: np.ndarray  # baseline: one row per stored reading, arrival order
    table_ts: np.ndarray
    table_values: np.ndarray
    sensors: int
    per_sensor: int
    step_us: int
    build_s: float
    applied_readings: int


def build(sensors: int, per_sensor: int, batch_readings: int = 10_000) -> Dataset:
    """Apply real encoded entries: time-ordered round robin, 1% late, 0.1% duplicates."""
    state = StateMachine()
    step_us = step_for(per_sensor)
    ticks_per_batch = max(1, batch_readings // sensors)
    batches = -(-per_sensor // ticks_per_batch)
    rng = np.random.default_rng(42)
    names = [sensor_name(i) for i in range(sensors)]
    locations = [location_of(i) for i in range(sensors)]
    held: list[tuple[np.ndarray, np.ndarray]] = []  # late readings waiting for batch b
    table: list[tuple[np.ndarray, np.ndarray]] = []
    previous: tuple[np.ndarray, np.ndarray] | None = None
    index = 1
    applied = 0
    started = time.perf_counter()
    for b in range(batches + 5):
        if b < batches:
            t0, t1 = b * ticks_per_batch, min(per_sensor, (b + 1) * ticks_per_batch)
            sensor = np.repeat(np.arange(sensors), t1 - t0)
            tick = np.tile(np.arange(t0, t1), sensors)
            late = rng.random(sensor.shape[0]) < 0.01
            if b + 5 <= batches + 4:
                held.append((sensor[late], tick[late]))
            sensor, tick = sensor[~late], tick[~late]
        else:
            sensor = tick = np.empty(0, dtype=np.int64)
        if b >= 5 and held:
            s_late, t_late = held.pop(0)
            sensor, tick = np.concatenate((sensor, s_late)), np.concatenate((tick, t_late))
        fresh_sensor, fresh_tick = sensor, tick
        if previous is not None and previous[0].shape[0]:
            dup = rng.random(previous[0].shape[0]) < 0.001
            sensor = np.concatenate((sensor, previous[0][dup]))
            tick = np.concatenate((tick, previous[1][dup]))
        previous = (fresh_sensor, fresh_tick)
        if sensor.shape[0] == 0:
            continue
        table.append((fresh_sensor, fresh_tick))
        order = np.lexsort((tick, sensor))
        sensor, tick = sensor[order], tick[order]
        present = np.unique(sensor)
        counts = np.bincount(sensor, minlength=sensors)[present].astype(np.uint32)
        columns = BatchColumns(
            sensors=[names[i] for i in present.tolist()],
            counts=counts,
            locations=[locations[i] for i in present.tolist()],
            ts=START_US + tick.astype(np.int64) * step_us,
            metrics=METRICS,
            values=np.ascontiguousarray(values_for(sensor, tick)),
            in_batch_duplicates=0,
        )
        index += 1
        entry = LogEntry(index, 1, encode_ingest([make_encoded_batch(columns, f"b{index}",
                                                                     int(tick.shape[0]))]))
        result = state.apply(entry)
        assert result.error is None and result.batches[0].status == "ok", result
        applied += int(tick.shape[0])
    build_s = time.perf_counter() - started
    table_sensor = np.concatenate([s for s, _ in table]).astype(np.int32)
    table_tick = np.concatenate([t for _, t in table])
    table_ts = START_US + table_tick.astype(np.int64) * step_us
    table_values = values_for(table_sensor, table_tick)
    assert state.stats()["total_readings"] == sensors * per_sensor == table_ts.shape[0]
    return Dataset(state, table_sensor, table_ts, table_values, sensors, per_sensor, step_us,
                   build_s, applied)
