"""Memory at steady state: a constant rate with a 10-minute raw window (in data time, the
clock advanced by tick entries as a leader would). Once the window has filled, what the
engine and the rollups hold stays bounded (default run), and the process RSS stays flat
within 10% (slow: `pytest -m slow`)."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import numpy as np
import pytest

from lithair_node.machine.commands import (
    BatchColumns,
    encode_ingest,
    encode_lifecycle,
    encode_tick,
    make_encoded_batch,
)
from lithair_node.machine.engine import engine as engine_module
from lithair_node.machine.state import LogEntry, StateMachine

POLICY = {"rules": [{"raw": "10m", "rollups": [{"every": "1m", "keep": "20m"},
                                                {"every": "1h", "keep": "1d"}]}]}
ENTRY_S = 10  # data seconds per entry
START_S = 1_800_000_000


def entries(sensors: int, minutes: int) -> Iterator[tuple[int, LogEntry]]:
    """(data second, entry): one reading per sensor per second, a tick every entry."""
    ids = [f"soak-{k:05d}" for k in range(sensors)]
    index = 2
    rng = np.random.default_rng(7)
    for second in range(START_S, START_S + minutes * 60, ENTRY_S):
        ts = np.tile(np.arange(second, second + ENTRY_S, dtype=np.int64) * 1_000_000, sensors)
        values = rng.normal(20.0, 3.0, (2, ts.shape[0])).round(2)
        columns = BatchColumns(ids, np.full(sensors, ENTRY_S, np.uint32), [None] * sensors, ts,
                               ["humidity", "temperature"], values, 0)
        yield second, LogEntry(index, 1, encode_ingest([make_encoded_batch(columns, None, 0)]))
        yield second, LogEntry(index + 1, 1, encode_tick((second + ENTRY_S) * 1000))
        index += 2


def held_bytes(state: StateMachine) -> int:
    tables = state._tables  # the soak measures the state itself
    # A cut's segment is built off the apply path (engine/sealing.py); until then its rows
    # are held raw, for a time that depends on the builder thread. Measured once built (the
    # swap is invisible to every answer), so the halves compare the same thing.
    tables.engine.settle()
    return tables.engine.nbytes() + sum(t.nbytes() for t in tables.lifecycle.tables.values())


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def soak(sensors: int, minutes: int, sample, seal_rows: int) -> list[int]:  # type: ignore[no-untyped-def]
    engine_module.SEAL_ROWS = seal_rows
    state = StateMachine()
    assert state.apply(LogEntry(1, 1, encode_lifecycle(POLICY))).error is None
    samples = []
    last_minute = None
    for second, entry in entries(sensors, minutes):
        assert state.apply(entry).error is None
        minute = (second - START_S) // 60
        if minute >= 25 and minute != last_minute:  # raw window and 1m rollups have filled
            gc.collect()
            samples.append(sample(state))
        last_minute = minute
    assert state.stats()["expired_readings"] > 0
    return samples


def test_engine_bytes_stay_bounded_once_the_window_has_filled(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(engine_module, "SEAL_ROWS", engine_module.SEAL_ROWS)  # restored after
    samples = soak(sensors=100, minutes=70, sample=held_bytes, seal_rows=20_000)
    print(f"held bytes after the window filled: min {min(samples)}, max {max(samples)}")
    # The hot buffer (uncompressed until sealed) and half-expired segments make it breathe
    # by a seal's worth; from one half of the run to the next it must not grow.
    half = len(samples) // 2
    assert max(samples[half:]) <= 1.1 * max(samples[:half])
    assert min(samples[half:]) <= 1.1 * min(samples[:half])
    assert max(samples) < 20_000 * 44 + 12 * 60 * 100 * 12  # a full hot buffer + the window


@pytest.mark.slow
def test_rss_stays_flat_once_the_window_has_filled(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(engine_module, "SEAL_ROWS", engine_module.SEAL_ROWS)
    samples = soak(sensors=1000, minutes=120, sample=lambda _: rss_bytes(), seal_rows=200_000)
    settled = samples[10:]  # the block cache and allocator pools fill first
    print(f"RSS after the window filled: min {min(settled)}, max {max(settled)}, "
          f"every 10 min (MB): {[round(r / 2**20) for r in settled[::10]]}")
    assert max(settled) <= 1.1 * min(settled)
