import numpy as np

from lithair_node.machine import series as series_module
from lithair_node.machine.series import SensorSeries


def make_series() -> SensorSeries:
    series = SensorSeries("s", 0, 1)
    cells = iter(range(100))
    series.rows_for([0], lambda: next(cells))
    return series


def test_random_order_inserts_stay_sorted_and_deduplicated(monkeypatch) -> None:
    monkeypatch.setattr(series_module, "DELTA_LIMIT", 64)
    rng = np.random.default_rng(1)
    series = make_series()
    seen: dict[int, float] = {}
    for _ in range(60):
        ts = np.unique(rng.integers(0, 2000, size=40))
        values = rng.random((1, ts.shape[0]))
        keep = series.insert(ts, np.array([0]), values)
        kept = np.ones(ts.shape[0], bool) if keep is None else keep
        for t, v, k in zip(ts.tolist(), values[0].tolist(), kept.tolist(), strict=True):
            assert k == (t not in seen)
            seen.setdefault(t, v)
    ts, values = series.view().sorted_columns()
    assert ts.tolist() == sorted(seen)
    assert values[0].tolist() == [seen[t] for t in sorted(seen)]
    assert len(series) == len(seen)


def test_between_is_half_open_and_merges_delta(monkeypatch) -> None:
    monkeypatch.setattr(series_module, "DELTA_LIMIT", 10_000)
    series = make_series()
    series.insert(np.arange(0, 100, 2), np.array([0]), np.ones((1, 50)))
    series.insert(np.arange(1, 50, 2), np.array([0]), np.zeros((1, 25)))  # late: goes to delta
    ts, values = series.view().between(10, 20)
    assert ts.tolist() == list(range(10, 20))
    assert values[0].tolist() == [1.0, 0.0] * 5


def test_views_do_not_change_after_more_writes() -> None:
    series = make_series()
    series.insert(np.arange(10), np.array([0]), np.ones((1, 10)))
    view = series.view()
    series.insert(np.arange(10, 1000), np.array([0]), np.full((1, 990), 2.0))
    series.insert(np.array([-5]), np.array([0]), np.full((1, 1), 3.0))
    assert view.base_ts.tolist() == list(range(10))
    assert view.base_values[0].tolist() == [1.0] * 10
    assert len(view) == 10
