"""Partial statistics and their merge (Chan et al.'s parallel formula), vectorised.

A partial summarises some readings of one metric: count, mean, M2 (the sum of squared
deviations from the mean), min and max, one column of a (5, k) float64 array; an empty one
is (0, 0, 0, inf, -inf). The running aggregates of the state, range statistics and time
buckets all merge partials here, so every path rounds the same way (the replicated
aggregates depend on it bit for bit).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# A (5, k) array, or its five rows: the apply path passes rows, which index faster.
Partials = np.ndarray | Sequence[np.ndarray]

FIELDS = ("count", "mean", "m2", "min", "max")


def empty(k: int) -> np.ndarray:
    """k empty partials, shape (5, k)."""
    partials = np.zeros((len(FIELDS), k))
    partials[3], partials[4] = np.inf, -np.inf
    return partials


def merge(a: Partials, b: Partials) -> np.ndarray:
    """Merge aligned partials column by column, a[:, i] with b[:, i]: shape (5, k)."""
    n_a, n_b = a[0], b[0]
    n = n_a + n_b
    # Values near the float64 limit overflow M2 to inf: the honest answer, not a warning.
    with np.errstate(over="ignore", invalid="ignore"):
        delta = b[1] - a[1]
        nonempty = n > 0
        weight = np.divide(n_b, n, out=np.zeros_like(n), where=nonempty)
        cross = np.divide(n_a * n_b, n, out=np.zeros_like(n), where=nonempty)
        return np.vstack((n, a[1] + delta * weight, a[2] + b[2] + delta * delta * cross,
                          np.minimum(a[3], b[3]), np.maximum(a[4], b[4])))


def combine_by_key(partials: np.ndarray, keys: np.ndarray, size: int,
                   totals: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Merge the columns of `partials` (5 x k) that share a key (0 <= key < size) in one
    pass: returns the merged partials (5 x size) and each key's sum of values.

    `totals` is each partial's sum of values when the caller has it exactly (time buckets
    do); by default it is count x mean."""
    count = np.bincount(keys, partials[0], size)
    if totals is None:
        totals = partials[0] * partials[1]
    sums = np.bincount(keys, totals, size)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, sums / count, 0.0)
        deviation = np.where(partials[0] > 0, partials[1] - mean[keys], 0.0)
        m2 = np.bincount(keys, partials[2] + partials[0] * deviation * deviation, size)
    low, high = np.full(size, np.inf), np.full(size, -np.inf)
    np.minimum.at(low, keys, partials[3])
    np.maximum.at(high, keys, partials[4])
    return np.vstack((count, mean, m2, low, high)), sums


def grouped(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Partials of each (metric row, group) of `values` (m x n, NaN = absent), where the
    groups are the contiguous column ranges beginning at `starts`: five (m, groups) rows."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        present = ~np.isnan(values)
        count = np.add.reduceat(present, starts, axis=1).astype(np.float64)
        filled = np.where(present, values, 0.0)
        mean = np.add.reduceat(filled, starts, axis=1) / count
        lengths = np.diff(np.append(starts, values.shape[1]))
        spread = np.where(present, values - np.repeat(mean, lengths, axis=1), 0.0)
        m2 = np.add.reduceat(spread * spread, starts, axis=1)
        low = np.minimum.reduceat(np.where(present, values, np.inf), starts, axis=1)
        high = np.maximum.reduceat(np.where(present, values, -np.inf), starts, axis=1)
    return count, mean, m2, low, high
