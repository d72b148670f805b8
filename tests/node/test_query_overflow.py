"""Range statistics and time buckets over values near the float64 limit: finite means,
and a sum or stddev beyond float64 said to have overflowed (never a silent null)."""

from __future__ import annotations

import numpy as np
import pytest

from lithair_node.machine.state import StateMachine
from lithair_node.node.queries import buckets, series_reads
from tests.machine.state_helpers import apply_all, ingest_entry

BIG = 1.7e308
VALUES = [BIG] * 40 + [-BIG]
TRUE_MEAN = BIG / 41 * 39


def big_state() -> StateMachine:
    state = StateMachine()
    readings = [{"sensor_id": "big", "timestamp": i, "x": v} for i, v in enumerate(VALUES)]
    apply_all(state, [ingest_entry(2, readings[:20]), ingest_entry(3, readings[20:])])
    return state


@pytest.mark.parametrize("ranged", [False, True])
def test_stats_mean_is_finite_and_stddev_says_it_overflowed(ranged: bool) -> None:
    read = big_state().read(["big"], running=not ranged)
    view = read.views[0]
    partials = (series_reads.range_stats(view, 0, 10**12) if ranged
                else read.running[0])  # type: ignore[index]
    described = series_reads.describe_stats(partials, ["x"])["x"]
    assert described["count"] == 41
    assert described["mean"] == pytest.approx(TRUE_MEAN, rel=1e-12)
    assert described["stddev"] is None and described["overflow"] == ["stddev"]


def test_ordinary_stats_have_no_overflow_field() -> None:
    state = StateMachine()
    apply_all(state, [ingest_entry(2, [{"sensor_id": "s", "timestamp": i, "x": float(i)}
                                       for i in range(10)])])
    read = state.read(["s"], running=True)
    described = series_reads.describe_stats(read.running[0], ["x"])["x"]  # type: ignore[index]
    assert "overflow" not in described and described["stddev"] == pytest.approx(np.std(range(10), ddof=1))


@pytest.mark.parametrize("sensors", [1, 2])
def test_buckets_mean_is_finite_and_the_sum_says_it_overflowed(sensors: int) -> None:
    ts = np.arange(41, dtype=np.int64)
    x = np.asarray(VALUES)
    parts = [(ts[i::sensors], x[i::sensors]) for i in range(sensors)]
    (row,) = buckets.aggregate(parts, 10**9, ("mean", "sum", "stddev", "count", "min", "max"))
    assert row["count"] == 41 and row["min"] == -BIG and row["max"] == BIG
    assert row["mean"] == pytest.approx(TRUE_MEAN, rel=1e-12)
    assert row["sum"] is None or not np.isfinite(row["sum"])
    assert row["overflow"] == ["sum", "stddev"]


def test_ordinary_buckets_have_no_overflow_field() -> None:
    rows = buckets.aggregate([(np.arange(4, dtype=np.int64), np.asarray([1.0, 2.0, 3.0, 4.0]))],
                             2, ("mean", "sum", "stddev"))
    assert [r["sum"] for r in rows] == [3.0, 7.0] and all("overflow" not in r for r in rows)
