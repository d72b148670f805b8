"""Sealing off the apply path, seen through the StateMachine: two machines fed the same
entries, one building each cut's segment at once and one holding the builds pending across
later entries, agree on the digest, the snapshot bytes and every query, and a snapshot
taken while a build is pending restores into a machine that continues identically."""

import pytest

from lithair_node.machine.commands import encode_ingest, make_encoded_batch
from lithair_node.machine.engine import engine as engine_module
from lithair_node.machine.engine.sealing import Sealing
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.state import StateMachine
from lithair_node.node.queries import buckets, export, series_reads
from tests.machine.engine.feeds import START_US, mixed_workload
from tests.machine.engine.held_builders import Held, Immediate

SEAL_ROWS = 700


@pytest.fixture(autouse=True)
def _small_seals(monkeypatch):
    monkeypatch.setattr(engine_module, "SEAL_ROWS", SEAL_ROWS)


def _entries() -> list[LogEntry]:
    return [LogEntry(i, 1, encode_ingest([make_encoded_batch(columns, f"k{i % 9}" if i % 5 == 0 else None,
                                                             columns.readings)]))
            for i, columns in enumerate(mixed_workload(36, 3, 300, (5, 11)), start=1)]


def _pending(state: StateMachine) -> int:
    return sum(isinstance(s, Sealing) and not s.done() for s in state._tables.engine.segments)


def queries(state: StateMachine) -> list:
    """latest, pages with cursors, range stats, time buckets (one sensor and many), anomalies,
    the CSV export: what the HTTP routes compute from a read."""
    ids = sorted(state._tables.engine.sensors.names)
    read = state.read(ids, running=True)
    names = read.metric_names
    mid, end = START_US + 60 * 500_000, START_US + 10**12
    found: list = [read.applied_index, [r.tolist() for r in read.running or []]]
    for view in read.views:
        found.append(series_reads.latest_values(view))
        cursor: int | None = START_US - 10**9
        while cursor is not None:
            ts, values, cursor = series_reads.page(view, cursor, end, 11)
            found += [ts.tolist(), values.tobytes(), cursor]
        found.append(series_reads.range_stats(view, mid, end).tobytes())
        found.append(series_reads.count_between(view, mid, end))
        for metric in view.metric_ids:
            found.append(buckets.aggregate_metric([view], metric, START_US, end, 7_000_000,
                                                  ("mean", "min", "max", "count")))
    for metric in range(len(names)):
        holding = [v for v in read.views if metric in v.metric_ids]
        found.append(buckets.aggregate_metric(holding, metric, mid, end, 3_000_000,
                                              ("mean", "count", "sum")))
    found.append(state.anomalies())
    schema = export.schema_for(export.metric_columns(read.views, names), "csv")
    found.append(b"".join(export.encode(export.record_batches(read.views, names, START_US, end, schema, 50),
                                        schema, "csv")))
    return found


def test_machines_holding_builds_pending_agree_on_digest_snapshot_and_queries():
    held = Held()
    at_once, late = StateMachine(Immediate()), StateMachine(held)
    seen_pending = 0
    for entry in _entries():
        assert at_once.apply(entry) == late.apply(entry)
        assert at_once.digest() == late.digest()
        if entry.index % 4 == 0:
            seen_pending += _pending(late)
            assert queries(at_once) == queries(late)
    assert seen_pending >= 4 and late._tables.engine.swaps_waited >= 3
    assert _pending(late) == 1
    assert at_once.snapshot() == late.snapshot()  # waits for the pending build, as it becomes
    assert queries(at_once) == queries(late)


def test_a_snapshot_taken_while_a_build_is_pending_restores_and_continues_identically():
    entries = _entries()
    whole = StateMachine(Immediate())
    for entry in entries:
        whole.apply(entry)
    late = StateMachine(Held())
    for entry in entries[:25]:
        late.apply(entry)
    assert _pending(late) == 1
    data = late.snapshot()
    restored = StateMachine(Held())
    restored.restore(data)
    assert restored.digest() == late.digest() and restored.snapshot() == data
    for entry in entries[25:]:
        assert restored.apply(entry) == late.apply(entry)
    assert restored.digest() == late.digest() == whole.digest()
    assert restored.snapshot() == late.snapshot() == whole.snapshot()
    assert queries(restored) == queries(whole)


def test_a_captured_view_holding_a_pending_part_loads_and_writes_the_same_bytes():
    entries = _entries()
    late = StateMachine(Held())
    for entry in entries[:25]:
        late.apply(entry)
    view = late.capture()  # O(state blob) under the lock: no build waited for
    assert any(isinstance(s, Sealing) and not s.done() for s in view.segments)
    copy = StateMachine(Held())
    copy.load(view)
    for entry in entries[25:]:
        late.apply(entry)
        copy.apply(entry)
    assert copy.snapshot() == late.snapshot()
