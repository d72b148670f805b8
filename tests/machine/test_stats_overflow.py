"""Means stay finite for any finite values, the same on every path and in any batch split;
a sum of squares beyond float64 stays inf (reported as an overflow); ordinary data gives
bit for bit the results of the one-pass formulas."""

from __future__ import annotations

import numpy as np
import pytest

from lithair_node.machine import stats
from lithair_node.machine.state import StateMachine
from tests.machine.state_helpers import apply_all, ingest_entry

BIG = 1.7e308
HUGE_SETS = [
    [BIG] * 40 + [-BIG],
    [-BIG] * 3 + [BIG] * 2,
    [1.7976931348623157e308] * 50,
    [BIG, BIG, 5e-324, -0.0, 1.0],
]


def exact_mean(values: list[float]) -> float:
    return float(sum(np.float64(v) / 2**64 for v in values) / len(values) * 2**64)


@pytest.mark.parametrize("values", HUGE_SETS)
def test_grouped_mean_is_finite_where_the_sum_overflows(values: list[float]) -> None:
    count, mean, _, low, high = stats.grouped(np.asarray([values]), np.asarray([0]))
    assert count[0, 0] == len(values)
    assert np.isfinite(mean[0, 0]) and low[0, 0] <= mean[0, 0] <= high[0, 0]
    assert mean[0, 0] == pytest.approx(exact_mean(values), rel=1e-12)


@pytest.mark.parametrize("values", HUGE_SETS)
@pytest.mark.parametrize("split", [1, 2, 7])
def test_running_aggregates_in_any_batch_split(values: list[float], split: int) -> None:
    """Apply in batches of `split` readings: the merge path must rescue the mean too."""
    state = StateMachine()
    readings = [{"sensor_id": "big", "timestamp": i, "x": v} for i, v in enumerate(values)]
    apply_all(state, [ingest_entry(2 + n, readings[i:i + split])
                      for n, i in enumerate(range(0, len(readings), split))])
    read = state.read(["big"], running=True)
    assert read.running is not None
    count, mean, _, low, high = read.running[0][:, 0]
    assert count == len(values) and low <= mean <= high
    assert mean == pytest.approx(exact_mean(values), rel=1e-12)


def test_ordinary_values_are_bit_for_bit_the_one_pass_results() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(20, 5, size=(3, 1000))
    values[1, ::7] = np.nan
    starts = np.asarray([0, 10, 400])
    count, mean, _, _, _ = stats.grouped(values, starts)
    filled = np.where(np.isnan(values), 0.0, values)
    assert (mean == np.add.reduceat(filled, starts, axis=1) / count).all()
    a, b = (np.vstack(stats.grouped(values[:, :500], np.asarray([0]))),
            np.vstack(stats.grouped(values[:, 500:], np.asarray([0]))))
    merged = stats.merge(a, b)
    delta = b[1] - a[1]
    assert (merged[1] == a[1] + delta * (b[0] / (a[0] + b[0]))).all()


def test_combine_by_key_rescues_the_mean() -> None:
    parts = np.vstack(stats.grouped(np.asarray([[BIG, BIG, -BIG, BIG]]), np.asarray([0, 2])))
    merged, sums = stats.combine_by_key(parts, np.asarray([0, 0]), 1)
    assert merged[1, 0] == pytest.approx(BIG / 2, rel=1e-12)
    assert not np.isfinite(sums[0])  # the sum itself truly overflows
