"""Workloads fed to the engine and, for comparison, to the current StateMachine."""

from __future__ import annotations

import itertools

from lithair_node.client.sources import synthetic_batches
from lithair_node.machine.commands import BatchColumns, encode_ingest, make_encoded_batch
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.state import StateMachine
from lithair_node.node.ingest.validation import Limits, validate_batch

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
