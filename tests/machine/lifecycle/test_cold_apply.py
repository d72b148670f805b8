"""The cold-tier entry in the state machine: exact drops, stale and mismatched entries
refused without effect, determinism, the manifest through snapshot/restore and the digest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lithair_node.machine.commands import encode_cold, encode_lifecycle, encode_tick
from lithair_node.machine.engine import engine as engine_module
from lithair_node.machine.state import LogEntry, StateMachine
from tests.machine.lifecycle.test_lifecycle_state import held, readings
from tests.machine.state_helpers import ingest_entry

POLICY = {"rules": [{"raw": "1d", "tier_after": "10m"}]}
CUTOFF_US = 600 * 1_000_000  # readings before minute 10


def file_entry(rows: int, name: int = 0) -> list[Any]:
    return [1, f"day=1970-01-01/part-{name:012d}.parquet", "1970-01-01", 0, CUTOFF_US - 1,
            rows, 2, ["humidity", "temperature"], bytes(32), 1234]


def cold_body(seq: int, rows: int, sensors: tuple[str, ...] = ("s0", "s1")) -> dict[str, Any]:
    return {"seq": seq, "term": 1, "files": [file_entry(rows * len(sensors), seq)],
            "cutoffs": dict.fromkeys(sensors, CUTOFF_US), "rows": dict.fromkeys(sensors, rows)}


def base_log() -> list[LogEntry]:
    log = [LogEntry(1, 1, encode_lifecycle(POLICY))]
    log += [ingest_entry(2 + m, readings(2, m * 60, 60)) for m in range(20)]  # 20 minutes
    log.append(LogEntry(30, 1, encode_tick(20 * 60 * 1000)))
    return log


@pytest.fixture(params=[64, 1 << 19], ids=["small-segments", "hot-only"])
def seal_rows(request, monkeypatch) -> int:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(engine_module, "SEAL_ROWS", request.param)
    return request.param


def run(entries: list[LogEntry]) -> tuple[StateMachine, list[str | None]]:
    state = StateMachine()
    return state, [state.apply(e).error for e in entries]


def test_the_entry_drops_exactly_what_the_files_hold(seal_rows: int) -> None:
    state, errors = run([*base_log(), LogEntry(31, 1, encode_cold(cold_body(0, 600)))])
    assert errors[-1] is None
    assert state.tier_due() == {}
    for sensor in ("s0", "s1"):
        ts = held(state, sensor)
        assert ts.shape[0] == 600 and ts.min() == CUTOFF_US
    stats = state.stats()
    assert stats["total_readings"] == 2 * 600 and stats["cold_readings"] == 1200
    manifest = state.cold_manifest()
    assert manifest.next_seq == 1 and len(manifest.files) == 1
    assert manifest.tiered_until == {"s0": CUTOFF_US, "s1": CUTOFF_US}


def test_a_stale_or_mismatched_entry_changes_nothing(seal_rows: int) -> None:
    good = LogEntry(31, 1, encode_cold(cold_body(0, 600)))
    state, _ = run([*base_log(), good])
    digest = state.digest()
    for index, body in enumerate([cold_body(0, 600), cold_body(5, 0)], 32):  # a retry, a skip
        assert "stale" in (state.apply(LogEntry(index, 1, encode_cold(body))).error or "")
    assert state.digest() == digest
    fresh, _ = run(base_log())
    before = fresh.digest()
    wrong = fresh.apply(LogEntry(31, 1, encode_cold(cold_body(0, 599)))).error
    assert wrong is not None and "match" in wrong
    other_term = fresh.apply(LogEntry(32, 2, encode_cold(cold_body(0, 600)))).error
    assert other_term is not None and "term" in other_term  # forwarded to the next leader
    bad = fresh.apply(LogEntry(33, 1, encode_cold({"seq": 0, "term": 1, "files": [[1]],
                                                   "cutoffs": {},
                                                   "rows": {}}))).error
    assert bad is not None and fresh.digest() == before
    assert fresh.stats()["cold_readings"] == 0


def test_same_entries_same_digest_and_the_manifest_survives_restore(seal_rows: int) -> None:
    log = [*base_log(), LogEntry(31, 1, encode_cold(cold_body(0, 600)))]
    a, _ = run(log)
    b, _ = run(log)
    assert a.digest() == b.digest()
    untiered, _ = run(base_log())
    assert untiered.digest() != a.digest()
    restored = StateMachine()
    restored.restore(a.snapshot())
    assert restored.digest() == a.digest()
    assert restored.cold_manifest().files == a.cold_manifest().files
    assert restored.cold_manifest().next_seq == 1
    assert np.array_equal(held(restored, "s0"), held(a, "s0"))
    # ... and goes on from there: the next entry is seq 1
    late = LogEntry(40, 1, encode_cold({**cold_body(1, 0), "files": []}))
    assert restored.apply(late).error is None and restored.cold_manifest().next_seq == 2
