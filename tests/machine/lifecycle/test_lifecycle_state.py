"""Retention and rollups in the state machine: determinism, what is dropped, snapshots."""

from __future__ import annotations

import io
from typing import Any

import msgpack
import numpy as np
import pytest

from lithair_node.machine.commands import encode_lifecycle, encode_tick
from lithair_node.machine.engine import engine as engine_module
from lithair_node.machine.state import LogEntry, StateMachine
from lithair_node.node.queries.series_reads import iter_parts
from tests.machine.state_helpers import apply_all, ingest_entry

MINUTE_S = 60
POLICY = {"rules": [{"match": {"sensor_prefix": "s"}, "raw": "10m",
                     "rollups": [{"every": "1m", "keep": "1h"}, {"every": "1h", "keep": "forever"}]}]}


def readings(sensors: int, start_s: int, count: int, step_s: int = 1) -> list[dict[str, Any]]:
    return [{"sensor_id": f"s{k}", "timestamp": start_s + i * step_s, "location": f"room{k % 2}",
             "temperature": float((i * 7 + k) % 13), "humidity": float(i % 5) + 0.5}
            for k in range(sensors) for i in range(count)]


def entries(policy: dict[str, Any] = POLICY) -> list[LogEntry]:
    """A policy, data spread over 30 minutes in batches, ticks in between, one late batch."""
    out = [LogEntry(1, 1, encode_lifecycle(policy))]
    index = 2
    for minute in range(30):
        out.append(ingest_entry(index, readings(4, minute * MINUTE_S, 60)))
        index += 1
        if minute % 5 == 4:
            out.append(LogEntry(index, 1, encode_tick((minute + 1) * MINUTE_S * 1000)))
            index += 1
    out.append(ingest_entry(index, readings(2, 5, 3, step_s=2)))  # late, long expired
    out.append(LogEntry(index + 1, 1, encode_tick(30 * MINUTE_S * 1000)))
    out.append(LogEntry(index + 2, 1, encode_tick(29 * MINUTE_S * 1000)))  # never backwards
    return out


def held(state: StateMachine, sensor: str) -> np.ndarray:
    view = state.series_view(sensor)
    assert view is not None
    parts = [ts for ts, _ in iter_parts(view, 0, 1 << 62)]
    return np.sort(np.concatenate(parts)) if parts else np.empty(0, np.int64)


@pytest.fixture(params=[64, 1 << 19], ids=["small-segments", "hot-only"])
def seal_rows(request, monkeypatch) -> int:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(engine_module, "SEAL_ROWS", request.param)
    return request.param


def test_same_entries_give_the_same_state_and_old_readings_go(seal_rows: int) -> None:
    log = entries()
    a, b = StateMachine(), StateMachine()
    results = apply_all(a, log)
    assert apply_all(b, log) == results
    assert all(r.error is None for r in results)
    assert a.digest() == b.digest() and a.snapshot() == b.snapshot()
    cutoff_us = 20 * MINUTE_S * 1_000_000  # clock 30 min, raw window 10 min
    for sensor in ("s0", "s3"):
        ts = held(a, sensor)
        # Whole expired segments and hot rows go; a half-expired segment may linger.
        assert ts.shape[0] >= 600 and ts[-1] == (30 * 60 - 1) * 1_000_000
        if seal_rows > 1000:
            assert ts[0] >= cutoff_us
        else:
            assert ts.shape[0] < 30 * 60
    life = a.lifecycle()
    assert life.clock_us == 30 * MINUTE_S * 1_000_000
    stats = a.stats()
    assert stats["expired_readings"] == life.expired_readings > 0
    assert stats["total_readings"] == 4 * 30 * 60 + 6 - life.expired_readings
    assert sum(held(a, f"s{k}").shape[0] for k in range(4)) == stats["total_readings"]


def test_rollups_equal_raw_buckets_and_outlive_the_raw(seal_rows: int) -> None:
    state = StateMachine()
    apply_all(state, entries())
    hour = state.rollup_parts([f"s{k}" for k in range(4)], "temperature", 3_600_000_000, 0, 1 << 62)
    assert hour is not None and hour.starts.tolist() == [0] * 4  # one row per cell
    for k in range(4):  # every reading ever stored, the late ones included
        expected = [float((i % 60 * 7 + k) % 13) for i in range(1800)]
        expected += [float((i * 7 + k) % 13) for i in range(3)] if k < 2 else []
        count, mean, m2, low, high, total = hour.partials[:, k]
        assert count == len(expected) and total == pytest.approx(sum(expected), rel=1e-12)
        assert mean == pytest.approx(np.mean(expected), rel=1e-12)
        assert m2 == pytest.approx(np.var(expected) * len(expected), rel=1e-9)
        assert (low, high) == (min(expected), max(expected))
    # 1m rollups are kept an hour: all 30 minutes, though raw is 10 minutes.
    minute = state.rollup_parts(["s1"], "humidity", 60_000_000, 0, 1 << 62)
    assert minute is not None and minute.starts.shape[0] == 30
    assert minute.raw_cutoff == 20 * MINUTE_S * 1_000_000
    # The late batch re-sent readings whose raw copy had expired: stored and counted again.
    assert minute.partials[0].tolist() == [63.0] + [60.0] * 29


def test_restore_mid_way_gives_the_same_result(seal_rows: int) -> None:
    log = entries()
    whole = StateMachine()
    apply_all(whole, log)
    for cut in (1, 9, len(log) - 3):
        first = StateMachine()
        apply_all(first, log[:cut])
        resumed = StateMachine()
        resumed.restore(first.snapshot())
        assert resumed.digest() == first.digest()
        apply_all(resumed, log[cut:])
        assert resumed.digest() == whole.digest()
        assert resumed.snapshot() == whole.snapshot()


def test_a_policy_change_backfills_new_rollups_and_drops_lost_ones() -> None:
    state = StateMachine()
    apply_all(state, [ingest_entry(1, readings(2, 0, 120))])
    hourly = {"rules": [{"rollups": [{"every": "1h"}]}]}
    apply_all(state, [LogEntry(2, 1, encode_lifecycle(hourly))])
    parts = state.rollup_parts(["s0", "s1"], "temperature", 3_600_000_000, 0, 1 << 62)
    assert parts is not None and parts.partials[0].tolist() == [120.0, 120.0]  # from the raw data
    apply_all(state, [LogEntry(3, 1, encode_lifecycle({"rules": [{"raw": "1d"}]}))])
    assert state.rollup_parts(["s0"], "temperature", 3_600_000_000, 0, 1 << 62) is None
    assert state.lifecycle().rollup_rows == {}


def test_no_policy_and_no_tick_leave_the_snapshot_format_as_before() -> None:
    plain, aged = StateMachine(), StateMachine()
    log = [ingest_entry(1, readings(2, 0, 10))]
    apply_all(plain, log)
    apply_all(aged, [*log, LogEntry(2, 1, encode_tick(5000))])
    header = next(iter(msgpack.Unpacker(io.BytesIO(plain.snapshot()), strict_map_key=False)))
    assert header["format"] == 2
    header = next(iter(msgpack.Unpacker(io.BytesIO(aged.snapshot()), strict_map_key=False)))
    assert header["format"] == 3
    assert aged.digest() != plain.digest()  # the clock is replicated state
    restored = StateMachine()
    restored.restore(aged.snapshot())
    assert restored.lifecycle().clock_us == 5_000_000 and restored.digest() == aged.digest()


@pytest.mark.parametrize("body", [
    {"rules": [{"raw": "ten days"}]}, {"rules": [{"raw": "0d"}]}, {"rules": "x"},
    {"rules": [{"rollups": [{"every": "5m"}]}]}, {"rules": [{"raw": "1d", "tier_after": "2d"}]},
    {"rules": [{"match": {"room": "x"}}]}, {"rules": [{"colour": 1}]},
])
def test_a_bad_policy_in_the_log_is_an_error_result_not_a_crash(body: Any) -> None:
    state = StateMachine()
    before = state.digest()
    (result,) = apply_all(state, [LogEntry(1, 1, encode_lifecycle(body))])
    assert result.error and state.digest() == before


@pytest.mark.parametrize("clock", [-1, "soon", 1.5, None])
def test_a_bad_tick_is_an_error_result(clock: Any) -> None:
    state = StateMachine()
    (result,) = apply_all(state, [LogEntry(1, 1, msgpack.packb([1, "tick", clock]))])
    assert result.error == "tick must be a clock in ms"


def test_tier_due_names_sensors_with_readings_past_tier_after() -> None:
    state = StateMachine()
    policy = {"rules": [{"match": {"location": "room0"}, "raw": "1d", "tier_after": "10m"}]}
    apply_all(state, [LogEntry(1, 1, encode_lifecycle(policy)),
                      ingest_entry(2, readings(2, 0, 30 * 60)),
                      LogEntry(3, 1, encode_tick(30 * MINUTE_S * 1000))])
    assert state.tier_due() == {"s0": 20 * MINUTE_S * 1_000_000}
    assert held(state, "s0").shape[0] == 30 * 60  # tiering moves nothing by itself


def test_intel_lab_hourly_means_from_rollups_equal_those_from_raw(intel_lab_path) -> None:  # type: ignore[no-untyped-def]
    from lithair_node.client.formats.intel_lab import read_readings
    from lithair_node.machine import stats
    from lithair_node.node.queries import buckets

    hour = 3_600_000_000
    data = read_readings(intel_lab_path)
    state = StateMachine()
    log = [LogEntry(1, 1, encode_lifecycle({"rules": [
        {"raw": "1d", "rollups": [{"every": "1h", "keep": "forever"}]}]}))]
    log += [ingest_entry(2 + i // 700, data[i:i + 700]) for i in range(0, len(data), 700)]
    apply_all(state, log)
    motes = sorted({r["sensor_id"] for r in data})
    raw = {}
    for mote in motes:
        view = state.series_view(mote)
        assert view is not None
        row = view.metric_ids.index(state.metric_names().index("temperature"))
        series = [(ts, values[row]) for ts, values in iter_parts(view, 0, 1 << 62)]
        raw[mote] = buckets.aggregate(series, hour, ("count", "mean"))
    newest = max(int(held(state, mote)[-1]) for mote in motes)
    (tick,) = apply_all(state, [LogEntry(len(log) + 1, 1, encode_tick(newest // 1000 + 2 * 86_400_000))])
    assert tick.error is None and state.stats()["total_readings"] == 0  # the raw data is gone
    for mote in motes:
        parts = state.rollup_parts([mote], "temperature", hour, 0, 1 << 62)
        assert parts is not None
        slots, slot = np.unique(parts.starts // hour, return_inverse=True)
        combined, total = stats.combine_by_key(parts.partials[:5], slot, slots.shape[0],
                                               totals=parts.partials[5])
        rolled = buckets.bucket_rows(slots, combined, total, hour, ("count", "mean"))
        assert [r["start_us"] for r in rolled] == [r["start_us"] for r in raw[mote]]
        for a, b in zip(rolled, raw[mote], strict=True):
            assert a["count"] == b["count"] and a["mean"] == pytest.approx(b["mean"], rel=1e-12)
