"""The fast paths of apply give the very bits of the general ones (digests compare them)."""

from __future__ import annotations

import numpy as np
import pytest

from lithair_node.machine.anomaly_judging import _judge_groups, _judge_singles
from lithair_node.machine.engine.running import RunningStats
from lithair_node.machine.stats import merge


def _cases(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    m, n = 4, 300
    values = rng.normal(0, 1, (m, n)) * rng.choice([1.0, 1e150, 1e300], (m, n), p=[.9, .05, .05])
    values[rng.random((m, n)) < 0.05] = 0.0
    n0 = rng.choice([0.0, 1.0, 2.0, 40.0, 1e6], (m, n))
    mean0 = np.where(n0 > 0, rng.normal(0, 1, (m, n)) * rng.choice([1.0, 1e200], (m, n)), 0.0)
    mean0[rng.random((m, n)) < 0.05] = -0.0
    m2_0 = np.where(n0 > 1, rng.random((m, n)) * n0, 0.0)
    return values, n0, mean0, m2_0


@pytest.mark.parametrize("seed", range(20))
def test_one_reading_a_group_judges_like_the_general_pass(seed: int) -> None:
    values, n0, mean0, m2_0 = _cases(seed)
    counts = np.ones(values.shape[1], dtype=np.int64)
    for v in (values, np.clip(values, -1e100, 1e100)):  # with and without overflowing squares
        fast = _judge_singles(v, n0, mean0, m2_0, 9.0, 30)
        slow = _judge_groups(v, counts, n0, mean0, m2_0, 9.0, 30)
        if fast is None:  # an overflowing square: the general pass judges the batch
            with np.errstate(over="ignore"):
                assert not np.isfinite((v - np.where(n0 > 0, mean0, v)) ** 2).all()
            continue
        out, stats_at = fast
        assert (out == slow[0]).all()
        row, column = np.nonzero(slow[0])
        mean, variance = stats_at(row, column)
        assert (mean.view(np.uint64) == slow[1][row, column].view(np.uint64)).all()
        assert (variance.view(np.uint64) == slow[2][row, column].view(np.uint64)).all()


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("as_slice", [False, True])
def test_one_value_a_cell_merges_like_stats_merge(seed: int, as_slice: bool) -> None:
    rng = np.random.default_rng(seed)
    k = 500
    stats = RunningStats()
    stats.add_cells(k)
    stats.data[0] = rng.choice([0.0, 1.0, 5.0, 1e9], k)
    stats.data[1] = np.where(stats.data[0] > 0, rng.normal(0, 1, k) * rng.choice([1.0, 1e307], k), 0.0)
    stats.data[2] = np.where(stats.data[0] > 1, rng.random(k), 0.0)
    stats.data[3] = np.where(stats.data[0] > 0, stats.data[1] - 1, np.inf)
    stats.data[4] = np.where(stats.data[0] > 0, stats.data[1] + 1, -np.inf)
    cells = np.arange(100, 100 + k // 2) if as_slice else rng.permutation(k)[: k // 2]
    with np.errstate(over="ignore"):
        x = rng.normal(0, 1, cells.shape[0]) * rng.choice([1.0, 1.7e308], cells.shape[0])
    x[~np.isfinite(x)] = 1.7e308
    ones = np.ones_like(x)
    expected = merge([row[cells] for row in stats.data], [ones, x, np.zeros_like(x), x, x])
    stats.merge_values(slice(100, 100 + k // 2) if as_slice else cells, x)  # engine: a run
    assert (stats.data[:, cells].view(np.uint64) == expected.view(np.uint64)).all()


@pytest.mark.parametrize("feed", ["mixed", "gateway", "random"])
def test_few_suspects_report_as_the_vector_pass_does(feed: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from lithair_node.machine import anomalies
    from lithair_node.machine.state import StateMachine
    from tests.machine.apply_feeds import gateway, mixed, random_draw
    from tests.machine.state_helpers import LogEntry

    entries = {"mixed": mixed, "gateway": lambda: gateway(10, 12),
               "random": lambda: random_draw(1000, 12)}[feed]()
    if feed != "mixed":  # cooldowns that bite within a batch and across batches
        entries.insert(0, anomalies_settings())
    seen = []
    for few in (0, 1 << 30):  # every batch through _report, then through _report_few
        monkeypatch.setattr(anomalies, "_FEW", few)
        state = StateMachine()
        for index, payload in enumerate(entries, start=1):
            state.apply(LogEntry(index, 1, payload))
        seen.append((state.anomalies(), state.digest()))
    assert seen[0] == seen[1] and seen[0][0][2] > 50


def anomalies_settings() -> bytes:
    from lithair_node.machine.commands import encode_settings
    return encode_settings({"anomalies": {"min_count": 3, "sigma": 1.5, "cooldown_us": 5_000_000}})
