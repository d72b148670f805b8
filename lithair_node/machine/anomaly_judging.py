"""Which readings a batch's anomaly check flags (anomalies.py's observe): every reading's
running mean and variance of its sensor's earlier readings, from the statistics before the
batch and prefix sums within it, in a fixed number of numpy passes per batch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# (running mean, running variance) before the readings at (metric rows, columns)
StatsAt = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
Judged = tuple[np.ndarray, StatsAt]  # flagged (metrics x readings), and their statistics


# Values near float64's limit overflow a deviation or its square to inf: judged on it.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def _judge_groups(values: np.ndarray, counts: np.ndarray, n0: np.ndarray, mean0: np.ndarray,
                  m2_0: np.ndarray, limit: float,
                  min_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flagged, running mean, running variance) before each reading, (metrics x readings):
    every metric row at once, a fixed number of numpy calls per batch."""
    n, rows = values.shape[1], values.shape[0]
    starts = np.cumsum(counts) - counts
    group = np.repeat(np.arange(counts.shape[0]), counts)
    first_of = np.minimum(starts, n - 1)
    absent = np.isnan(values)
    dense = not absent.any()
    # Shift each group by its running mean (or its first value when it has none) so
    # the prefix sums stay small: Welford's numbers without a Python loop.
    first = values[:, first_of] if dense else _first_present(values, ~absent, starts, counts)
    shift = np.repeat(np.where(n0 > 0, mean0, first), counts, axis=1)
    sums = np.empty((2 if dense else 3, rows, n))
    np.subtract(values, shift, out=sums[0])
    if not dense:
        sums[0][absent] = 0.0
        sums[2] = ~absent
    np.multiply(sums[0], sums[0], out=sums[1])
    prefix = _exclusive_group_cumsum(sums.reshape(-1, n), starts, counts).reshape(sums.shape)
    s1, s2 = prefix[0], prefix[1]
    position = (np.arange(n) - starts[group]).astype(np.float64) if dense else prefix[2]
    count = np.repeat(n0, counts, axis=1) + position
    mean = shift + s1 / count
    m2 = np.maximum(np.repeat(m2_0, counts, axis=1) + s2 - s1 * s1 / count, 0.0)
    variance = m2 / (count - 1)
    deviation = values - mean
    # NaN (absent) values compare False: no separate presence mask needed.
    return (deviation * deviation > limit * variance) & (count >= min_count), mean, variance


def _judged(out: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> Judged:
    return out, lambda row, column: (mean[row, column], variance[row, column])


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def _judge_singles(values: np.ndarray, n0: np.ndarray, mean0: np.ndarray, m2_0: np.ndarray,
                   limit: float, min_count: int) -> Judged | None:
    """_judge_groups when every group holds one reading and every value is present, to the
    bit (_judge_singles_exact). The flags need fewer passes: a flagged reading has
    n0 >= min_count > 0, where the exact mean is mean0 + 0.0 and the variance
    max(m2_0 + 0.0, 0) / (n0 - 1); the `+ 0.0` only turns -0.0 into +0.0, which changes
    no square and no comparison. Means and variances are computed for flagged ones only."""
    if np.isnan(values).any():
        return None
    deviation = values - mean0
    square = deviation * deviation
    if not np.isfinite(square).all():  # near the float64 limit: the exact passes decide
        exact = _judge_singles_exact(values, n0, mean0, m2_0, limit, min_count)
        return None if exact is None else _judged(*exact)
    out = (square > limit * (np.maximum(m2_0, 0.0) / (n0 - 1))) & (n0 >= min_count)

    def stats_at(row: np.ndarray, column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, mean, m2, x = n0[row, column], mean0[row, column], m2_0[row, column], values[row, column]
        return np.where(n > 0, mean, x) + 0.0, np.maximum(m2 + 0.0, 0.0) / (n - 1)

    return out, stats_at


@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def _judge_singles_exact(values: np.ndarray, n0: np.ndarray, mean0: np.ndarray,
                         m2_0: np.ndarray, limit: float,
                         min_count: int) -> tuple[np.ndarray, ...] | None:
    """_judge_groups when every group holds one reading and every value is present, to the
    bit: nothing precedes a reading in its group, so its prefix sums are x - x = +0.0 and
    each formula keeps only its `+ 0.0` (where it decides the sign of a zero). None when a
    shifted square overflows: there _judge_groups's prefix sums are not zeros."""
    shift = np.where(n0 > 0, mean0, values)
    spread = values - shift
    if not np.isfinite(spread * spread).all():
        return None
    # count = n0 + 0.0 is n0 (never -0.0); where n0 = 0 nothing is judged (count < min).
    mean = shift + 0.0
    variance = np.maximum(m2_0 + 0.0, 0.0) / (n0 - 1)
    deviation = values - mean
    return (deviation * deviation > limit * variance) & (n0 >= min_count), mean, variance


def _first_present(x: np.ndarray, present: np.ndarray, starts: np.ndarray,
                   counts: np.ndarray) -> np.ndarray:
    """Per row and group: the group's first present value (0 when it has none)."""
    n = x.shape[1]
    marker = np.where(present, np.arange(n), n)
    nonempty = counts > 0
    first = np.zeros((x.shape[0], counts.shape[0]))
    if nonempty.any():
        firsts = np.minimum.reduceat(marker, starts[nonempty], axis=1)
        found = firsts < n
        picked = np.zeros(firsts.shape)
        picked[found] = x[np.nonzero(found)[0], firsts[found]]
        first[:, nonempty] = picked
    return first


def _exclusive_group_cumsum(sums: np.ndarray, starts: np.ndarray,
                            counts: np.ndarray) -> np.ndarray:
    """Per row and position: the sum over the earlier positions of the same group."""
    exclusive = np.zeros_like(sums)
    np.cumsum(sums[:, :-1], axis=1, out=exclusive[:, 1:])
    at_start = exclusive[:, np.minimum(starts, sums.shape[1] - 1)]
    exclusive -= np.repeat(at_start, counts, axis=1)
    return exclusive
