"""Apply's shortcuts for the usual batch give the general path's bits (the replicated
aggregates and the digest depend on every bit)."""

from __future__ import annotations

import numpy as np
import pytest

from lithair_node.machine import stats
from lithair_node.machine.engine.running import grouped_dense


def _bits(rows: tuple[np.ndarray, ...]) -> list[bytes]:
    return [np.ascontiguousarray(row, dtype=np.float64).tobytes() for row in rows]


@pytest.mark.parametrize("kind", ["normal", "rounded", "extreme", "constant", "fortran"])
def test_grouped_dense_is_grouped_to_the_bit(kind: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        m, g = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        counts = rng.integers(1, 6, g)
        n = int(counts.sum())
        values = rng.normal(0, 1, (m, n)) * 10.0 ** int(rng.integers(-5, 5))
        if kind == "rounded":
            values = np.round(values, 2)
        elif kind == "extreme":  # sums overflow: the rescued means; -0.0, subnormals
            values = rng.choice([1.7e308, -1.7e308, 1e308, 0.0, -0.0, 5e-324, 3.0], (m, n))
        elif kind == "constant":
            values = np.tile(values[:, :1], (1, n))
        elif kind == "fortran":
            values = np.asfortranarray(values)
        starts = np.cumsum(counts) - counts
        with np.errstate(over="ignore", invalid="ignore"):
            assert _bits(grouped_dense(values, starts, counts)) == _bits(stats.grouped(values, starts))
