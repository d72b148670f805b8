"""Anomalies computed in apply: equal to a plain per-reading Welford, deterministic, snapshotted."""

from __future__ import annotations

import math
import random

import msgpack
import pytest

from lithair_node.client.formats.intel_lab import read_readings
from lithair_node.machine.anomalies import AnomalySettings, SettingsError
from lithair_node.machine.commands import encode_settings
from lithair_node.machine.state import LogEntry, StateMachine
from lithair_node.node.timestamps import parse_timestamp
from tests.machine.state_helpers import apply_all, ingest_entry


def reference(batches, sigma=3.0, cooldown_us=60_000_000, min_count=30):
    """Welford one reading at a time, in apply order (batches regrouped by sensor and sorted
    by timestamp, duplicates dropped), with the per-sensor cooldown."""
    running: dict = {}
    last: dict = {}
    stored: set = set()
    out = []
    for batch in batches:
        seen = set()
        rows = []
        for r in batch:
            key = (str(r["sensor_id"]), parse_timestamp(r["timestamp"]))
            if key in seen:
                continue
            seen.add(key)
            rows.append((key, r))
        rows.sort(key=lambda item: item[0])
        for (sensor, ts), r in rows:
            if (sensor, ts) in stored:
                continue
            stored.add((sensor, ts))
            flagged = []
            for metric in sorted(k for k in r if k not in ("sensor_id", "timestamp", "location")):
                n, mean, m2 = running.get((sensor, metric), (0, 0.0, 0.0))
                x = r[metric]
                if n >= min_count and abs(x - mean) > sigma * math.sqrt(m2 / (n - 1)):
                    flagged.append(metric)
                n += 1
                delta = x - mean
                mean += delta / n
                m2 += delta * (x - mean)
                running[(sensor, metric)] = (n, mean, m2)
            if flagged and (sensor not in last or abs(ts - last[sensor]) >= cooldown_us):
                out.append((sensor, ts, tuple(flagged)))
                last[sensor] = ts
    return out


def flagged(state: StateMachine):
    return [(a.sensor_id, a.timestamp_us, tuple(m[0] for m in a.metrics))
            for a in state.anomalies()[3]]


def batches_of(readings, size):
    return [readings[i:i + size] for i in range(0, len(readings), size)]


@pytest.mark.parametrize("shuffle_seed", [None, 4])
def test_intel_lab_anomalies_equal_a_sequential_welford(intel_lab_path, shuffle_seed) -> None:
    readings = read_readings(intel_lab_path)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(readings)
    batches = batches_of(readings, 400)
    state = StateMachine()
    apply_all(state, [ingest_entry(2 + i, b) for i, b in enumerate(batches)])
    want = reference(batches)
    assert len(want) > 50  # the real data has spikes (light) and a failing battery
    assert flagged(state) == want
    first = state.anomalies()[3][0]
    _, value, mean, std = first.metrics[0]
    assert abs(value - mean) > 3 * std


def test_cooldown_is_measured_in_reading_time_per_sensor() -> None:
    state = StateMachine()
    state.apply(LogEntry(2, 1, encode_settings({"anomalies": {"min_count": 5,
                                                              "cooldown_us": 10_000_000}})))
    base = [{"sensor_id": s, "timestamp": t, "v": 10.0 + (t % 2) * 0.1}
            for s in ("a", "b") for t in range(100, 140)]
    spikes = [{"sensor_id": "a", "timestamp": t, "v": 99.0} for t in (200, 205, 209, 211, 230)]
    spikes += [{"sensor_id": "b", "timestamp": 205, "v": 99.0}]
    apply_all(state, [ingest_entry(3, base), ingest_entry(4, spikes),
                      # out of order, within 10 s of b's anomaly at 205: suppressed
                      ingest_entry(5, [{"sensor_id": "b", "timestamp": 199, "v": -50.0}])])
    got = [(s, t // 1_000_000) for s, t, _ in flagged(state)]
    assert got == [("a", 200), ("a", 211), ("a", 230), ("b", 205)]
    assert state.anomalies()[2] == 4


def test_sensors_with_different_metric_sets_and_new_metrics() -> None:
    state = StateMachine()
    state.apply(LogEntry(2, 1, encode_settings({"anomalies": {"min_count": 3, "cooldown_us": 0}})))
    batches = [
        [{"sensor_id": "x", "timestamp": t, "t": 20.0 + 0.1 * (t % 3)} for t in range(10)],
        [{"sensor_id": "y", "timestamp": t, "co2": 400.0 + t % 2} for t in range(10)]
        + [{"sensor_id": "x", "timestamp": 10, "h": 50.0}],  # a new metric on x
        [{"sensor_id": "x", "timestamp": 11, "t": 80.0, "h": 50.1},
         {"sensor_id": "y", "timestamp": 11, "co2": 1000.0}],
    ]
    apply_all(state, [ingest_entry(3 + i, b) for i, b in enumerate(batches)])
    assert flagged(state) == reference(batches, min_count=3, cooldown_us=0)
    assert [(s, m) for s, _, m in flagged(state)] == [("x", ("t",)), ("y", ("co2",))]


def test_settings_entry_changes_every_node_at_the_same_index() -> None:
    readings = read_readings_sample()
    lower = LogEntry(5, 1, encode_settings({"anomalies": {"sigma": 2.0}}))
    entries = [ingest_entry(2, readings[:300]), ingest_entry(3, readings[300:600]), lower,
               ingest_entry(6, readings[600:900])]
    a, b = StateMachine(), StateMachine()
    assert apply_all(a, entries) == apply_all(b, entries)
    assert a.anomalies()[1] == AnomalySettings(sigma=2.0) == b.anomalies()[1]
    assert flagged(a) == flagged(b)
    default = StateMachine()
    apply_all(default, [e for e in entries if e is not lower])
    assert default.digest() != a.digest()  # settings and anomalies are part of the digest


def read_readings_sample():
    from pathlib import Path
    return read_readings(Path(__file__).resolve().parents[2] / "data" / "intel_lab_sample.txt")


@pytest.mark.parametrize("body", [
    {"anomalies": {"sigma": -1.0}}, {"anomalies": {"sigma": float("nan")}},
    {"anomalies": {"cooldown_us": 1.5}}, {"anomalies": {"min_count": 1}},
    {"anomalies": {"sigma": True}}, {"anomalies": {"colour": "red"}}, {"anomalies": {}},
    {"other": 1}, "x",
])
def test_bad_settings_entries_are_refused_without_raising(body) -> None:
    state = StateMachine()
    result = state.apply(LogEntry(2, 1, msgpack.packb([1, "settings", body])))
    assert result.error
    assert state.anomalies()[1] == AnomalySettings()


def test_settings_validation() -> None:
    assert AnomalySettings().updated({"sigma": 4}).sigma == 4.0
    with pytest.raises(SettingsError):
        AnomalySettings().updated({"min_count": 10**12})


def test_anomalies_survive_snapshot_and_keep_agreeing(intel_lab_path) -> None:
    readings = read_readings(intel_lab_path)
    random.Random(9).shuffle(readings)
    entries = [ingest_entry(2 + i, b) for i, b in enumerate(batches_of(readings, 500))]
    entries.insert(3, LogEntry(2 + len(entries), 1,
                               encode_settings({"anomalies": {"cooldown_us": 5_000_000}})))
    original = StateMachine()
    apply_all(original, entries[:8])
    restored = StateMachine()
    restored.restore(original.snapshot())
    assert restored.anomalies() == original.anomalies()
    assert restored.digest() == original.digest()
    assert apply_all(restored, entries[8:]) == apply_all(original, entries[8:])
    assert restored.anomalies() == original.anomalies()
    assert restored.digest() == original.digest()
    assert restored.snapshot() == original.snapshot()


def test_ring_buffer_is_bounded_and_digest_tracks_evictions(monkeypatch) -> None:
    from lithair_node.machine import anomalies as module
    monkeypatch.setattr(module, "CAPACITY", 5)
    state = StateMachine()
    state.apply(LogEntry(2, 1, encode_settings({"anomalies": {"min_count": 2, "cooldown_us": 0}})))
    for i in range(12):
        state.apply(ingest_entry(3 + i, [{"sensor_id": "s", "timestamp": 10 * i + t, "v": 1.0}
                                         for t in range(5)]
                                 + [{"sensor_id": "s", "timestamp": 10 * i + 5, "v": 1e6 * (i + 1)}]))
    index, _, total, records = state.anomalies()
    assert total >= 10 and len(records) == 5
    assert records[-1].raft_index == index
    restored = StateMachine()
    restored.restore(state.snapshot())
    assert restored.digest() == state.digest()
