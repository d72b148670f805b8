"""Workloads fed to the engine and, for comparison, to the current StateMachine."""

from __future__ import annotations

import itertools

import numpy as np

from lithair_node.client.sources import synthetic_batches
from lithair_node.machine.commands import BatchColumns, encode_ingest, make_encoded_batch
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.state import StateMachine
from lithair_node.node.ingest.validation import Limits, validate_batch
from tests.machine.engine.builders import make_columns

START_US = 1_700_000_000_000_000


def synthetic_columns(sensors: int, batch: int, count: int, seed: int = 1) -> list[BatchColumns]:
    return [validate_batch({"readings": readings}, Limits(max_readings=100_000))[0]
            for readings in itertools.islice(
                synthetic_batches(sensors, batch, seed=seed, start_us=START_US), count)]


def state_machine_of(batches: list[BatchColumns]) -> StateMachine:
    state = StateMachine()
    for index, columns in enumerate(batches, start=1):
        encoded = make_encoded_batch(columns, None, columns.readings)
        state.apply(LogEntry(index, 1, encode_ingest([encoded])))
    return state


def mixed_workload(count: int, every: int, ts_steps: int, seeds: tuple[int, int]) -> list[BatchColumns]:
    """Wide batches of 40 sensors with, every `every` batches, 30 late, duplicate and sparse
    readings of 45 sensors (timestamps within `ts_steps` half-seconds of START_US)."""
    batches = synthetic_columns(40, 150, count, seed=seeds[0])
    rng = np.random.default_rng(seeds[1])
    for k in range(0, count, every):
        batches.insert(k, make_columns([
            (f"sensor-{int(s):05d}", START_US + int(t) * 500_000, {f"m{int(s) % 3}": float(t) / 8}, "x")
            for s, t in zip(rng.integers(0, 45, 30), rng.integers(0, ts_steps, 30), strict=True)]))
    return batches


def engine_fed(batches: list[BatchColumns], seal_rows: int) -> Engine:
    engine = Engine(seal_rows=seal_rows)
    for columns in batches:
        engine.apply_batch(columns)
    return engine
