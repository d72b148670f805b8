"""Partial statistics and their merge (Chan et al.'s parallel formula), vectorised.

A partial summarises some readings of one metric: count, mean, M2 (the sum of squared
deviations from the mean), min and max, one column of a (5, k) float64 array; an empty one
is (0, 0, 0, inf, -inf). The running aggregates of the state, range statistics and time
buckets all merge partials here, so every path rounds the same way (the replicated
aggregates depend on it bit for bit).

Means stay finite for any finite values: where a sum overflows float64 (values near
+-1.7e308), the mean is taken again over values scaled by 2**-64 (`rescued_means`). Only
those cells take the second pass, so every other result is bit for bit what it was. M2
(a sum of squares) can still overflow: inf, which readers report as an overflow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# A (5, k) array, or its five rows: the apply path passes rows, which index faster.
Partials = np.ndarray | Sequence[np.ndarray]

FIELDS = ("count", "mean", "m2", "min", "max")
# A power of two: scaling by it is exact (bar subnormals, which cannot move a mean that needs
# rescuing), and 2**53 values scaled by it sum far below the float64 limit.
_DOWN, _UP = 2.0 ** -64, 2.0 ** 64


def rescued_means(mean: np.ndarray, count: np.ndarray, low: np.ndarray, high: np.ndarray,
                  scaled_sums: Callable[[float], np.ndarray]) -> np.ndarray:
    """`mean`, except where a sum overflowed (count > 0, mean not finite): there the mean of
    the values scaled down (`scaled_sums(scale)` gives their sums), scaled back up and kept
    in [min, max], where the true mean lies."""
    lost = (count > 0) & ~np.isfinite(mean)
    if not lost.any():
        return mean
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        rescued = np.clip(scaled_sums(_DOWN) / count * _UP, low, high)
    return np.where(lost, rescued, mean)


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
        low, high = np.minimum(a[3], b[3]), np.maximum(a[4], b[4])
        # delta overflows only for huge means of opposite signs; the weighted sum cannot.
        mean = rescued_means(a[1] + delta * weight, n, low, high,
                             lambda scale: (a[1] * scale * (1 - weight) + b[1] * scale * weight) * n)
        return np.vstack((n, mean, a[2] + b[2] + delta * delta * cross, low, high))


def combine_by_key(partials: np.ndarray, keys: np.ndarray, size: int,
                   totals: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Merge the columns of `partials` (5 x k) that share a key (0 <= key < size) in one
    pass: returns the merged partials (5 x size) and each key's sum of values.

    `totals` is each partial's sum of values when the caller has it exactly (time buckets
    do); by default it is count x mean."""
    count = np.bincount(keys, partials[0], size)
    if totals is None:
        with np.errstate(over="ignore"):  # an overflowed total is rescued below
            totals = partials[0] * partials[1]
    sums = np.bincount(keys, totals, size)
    low, high = np.full(size, np.inf), np.full(size, -np.inf)
    np.minimum.at(low, keys, partials[3])
    np.maximum.at(high, keys, partials[4])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mean = rescued_means(np.where(count > 0, sums / count, 0.0), count, low, high,
                             lambda scale: np.bincount(keys, partials[1] * scale * partials[0], size))
        deviation = np.where(partials[0] > 0, partials[1] - mean[keys], 0.0)
        m2 = np.bincount(keys, partials[2] + partials[0] * deviation * deviation, size)
    return np.vstack((count, mean, m2, low, high)), sums


def grouped(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Partials of each (metric row, group) of `values` (m x n, NaN = absent), where the
    groups are the contiguous column ranges beginning at `starts`: five (m, groups) rows."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        present = ~np.isnan(values)
        count = np.add.reduceat(present, starts, axis=1).astype(np.float64)
        filled = np.where(present, values, 0.0)
        low = np.minimum.reduceat(np.where(present, values, np.inf), starts, axis=1)
        high = np.maximum.reduceat(np.where(present, values, -np.inf), starts, axis=1)
        mean = rescued_means(np.add.reduceat(filled, starts, axis=1) / count, count, low, high,
                             lambda scale: np.add.reduceat(filled * scale, starts, axis=1))
        lengths = np.diff(np.append(starts, values.shape[1]))
        spread = np.where(present, values - np.repeat(mean, lengths, axis=1), 0.0)
        m2 = np.add.reduceat(spread * spread, starts, axis=1)
    return count, mean, m2, low, high
