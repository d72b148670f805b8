"""ranges.pairs_in (dedup of late readings) against a set of pairs, on random pairs whose
timestamps straddle the asked span's edges."""

from __future__ import annotations

import numpy as np
import pytest

from lithair_node.machine.engine.ranges import in_sorted_runs, pairs_in


@pytest.mark.parametrize("seed", range(40))
def test_pairs_in_matches_a_set_of_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_known, n_asked = int(rng.integers(0, 300)), int(rng.integers(0, 60))
    known = {(int(s), int(t)) for s, t in zip(rng.integers(0, 20, n_known), rng.integers(0, 400, n_known),
                                              strict=True)}
    known_s = np.array([s for s, _ in known], dtype=np.int64)
    known_t = np.array([t for _, t in known], dtype=np.int64)
    # Asked pairs: half drawn from the known ones (hits, the span's edges among them), half new.
    asked = {(int(s), int(t)) for s, t in zip(rng.integers(0, 20, n_asked),
                                              rng.integers(100, 300, n_asked), strict=True)}
    asked |= set(list(known)[: n_asked // 2])
    sensors = np.array([s for s, _ in asked], dtype=np.int64)
    ts = np.array([t for _, t in asked], dtype=np.int64)
    found = pairs_in(sensors, ts, known_s, known_t)
    assert found.tolist() == [(s, t) in known for s, t in asked]


@pytest.mark.parametrize("seed", range(40))
def test_in_sorted_runs_matches_membership_of_each_run(seed: int) -> None:
    rng = np.random.default_rng(seed)
    runs = [np.unique(rng.integers(0, 200, int(rng.integers(0, 80))))
            for _ in range(int(rng.integers(1, 30)))]
    values = np.concatenate(runs).astype(np.int64)
    ends = np.cumsum([r.shape[0] for r in runs])
    starts = ends - [r.shape[0] for r in runs]
    asked_run = rng.integers(0, len(runs), 300)
    wanted = rng.integers(-5, 205, 300)
    found = in_sorted_runs(values, starts[asked_run], ends[asked_run], wanted)
    assert found.tolist() == [int(w) in set(runs[r].tolist()) for r, w in zip(asked_run, wanted, strict=True)]
