"""segment.seal gives byte for byte the segment the build before the build-CPU work gave
(build_reference.py, run in this process: zstd's bytes depend on the libzstd version), over
hot buffers of every shape a cut can freeze."""

from __future__ import annotations

import numpy as np
import pytest

from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.hot import HotBuffer
from lithair_node.machine.engine.segment import BLOCK_ROWS
from tests.machine.engine import build_reference as reference

START = 1_700_000_000_000_000


def _values(rng: np.random.Generator, kind: str, shape: tuple[int, int]) -> np.ndarray:
    if kind == "decimals":  # one decimals per metric, slowly varying: the usual column
        rows = [np.round(20 + np.cumsum(rng.normal(0, 0.05, shape[1])), int(rng.integers(0, 7)))
                for _ in range(shape[0])]
        return np.vstack(rows)
    if kind == "raw":
        return rng.normal(0, 1e3, shape)
    # "odd": per batch, values some or every scale fails, or fewer decimals than before
    out = np.round(rng.normal(0, 50, shape), int(rng.integers(0, 4)))
    trick = int(rng.integers(0, 5))
    if trick == 0:
        out[rng.random(shape) < 0.001] = -0.0  # not decimal-exact (decodes as 0.0)
    elif trick == 1:
        out[rng.random(shape) < 0.0005] = np.inf
    elif trick == 2:
        out[:, rng.integers(0, shape[1], 3)] = 2.0**60  # too large to scale
    elif trick == 3:
        out = np.round(out, 0)  # fewer decimals: the previous block's scale is kept
    return out


def _hot(seed: int, rows: int, sensors: int, metrics: int, kind: str, absent: float,
         layout: str, late: bool) -> HotBuffer:
    """A hot buffer filled as apply fills it: batches of readings, each batch's metric ids
    (layout "fixed": one permutation for all, "permuted": one a batch, "mixed": subsets),
    NaN where a reading lacks a value."""
    rng = np.random.default_rng(seed)
    hot, done, tick = HotBuffer(), 0, 0
    fixed = rng.permutation(metrics).astype(np.int32)
    while done < rows:
        n = min(int(rng.integers(1, 3000 if rng.random() < 0.7 else 12_000)), rows - done)
        sensor = (np.arange(done, done + n) % sensors).astype(np.int32)
        ts = START + (np.arange(done, done + n) // sensors) * 1_000_000 + tick
        if late and rng.random() < 0.3:
            ts = ts - rng.integers(0, 5_000_000, n)
        ids = fixed if layout == "fixed" else rng.permutation(metrics).astype(np.int32)
        if layout == "mixed":
            ids = ids[: int(rng.integers(1, metrics + 1))]
        values = _values(rng, kind, (ids.shape[0], n))
        values[rng.random(values.shape) < absent] = np.nan
        hot.append(sensor, ts, ids, values)
        done, tick = done + n, tick + 1
    return hot


CASES = {  # name: (rows, sensors, metrics, kind, absent, layout, late)
    "dense": (20 * BLOCK_ROWS, 1000, 5, "decimals", 0.0, "fixed", False),
    "dense-partial-block": (7 * BLOCK_ROWS + 1234, 10_000, 4, "decimals", 0.0, "fixed", False),
    "dense-permuted": (9 * BLOCK_ROWS + 17, 300, 4, "decimals", 0.0, "permuted", False),
    "dense-absent": (9 * BLOCK_ROWS + 17, 300, 4, "decimals", 0.001, "fixed", False),
    "dense-raw": (6 * BLOCK_ROWS, 50, 3, "raw", 0.0, "fixed", True),
    "dense-odd": (8 * BLOCK_ROWS + 5, 2000, 3, "odd", 0.0, "fixed", False),
    "dense-odd-long": (60 * BLOCK_ROWS + 5, 500, 2, "odd", 0.0, "fixed", False),
    "one-sensor": (5 * BLOCK_ROWS + 99, 1, 2, "decimals", 0.0, "fixed", False),
    "one-metric": (3 * BLOCK_ROWS + 1, 20, 1, "odd", 0.0, "fixed", True),
    "mixed-metrics": (10 * BLOCK_ROWS, 700, 8, "decimals", 0.05, "mixed", True),
    "sparse": (6 * BLOCK_ROWS + 3, 3000, 40, "odd", 0.9, "mixed", False),
    "sparse-raw": (3 * BLOCK_ROWS, 100, 60, "raw", 0.97, "mixed", True),
    "tiny": (37, 5, 3, "decimals", 0.2, "mixed", False),
    "one-block": (BLOCK_ROWS, 64, 2, "odd", 0.0, "fixed", False),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("given_order", [False, True])
def test_seal_bytes_equal_the_reference(case: str, given_order: bool) -> None:
    rows, sensors, metrics, kind, absent, layout, late = CASES[case]
    view = _hot(sorted(CASES).index(case), rows, sensors, metrics, kind, absent, layout, late).view()
    cols = (view.sensor, view.ts, view.row, view.metric, view.value)
    order = segments.by_sensor_then_ts(view.sensor, view.ts) if given_order else None
    expected = segments.encode(reference.seal(7, *cols))
    built = segments.seal(7, *cols, order)
    assert segments.encode(built) == expected
    assert built.rows == rows


def test_the_cases_reach_every_column_path() -> None:
    """The rectangular (gather), dense (scatter) and sparse builds are all compared."""
    paths = set()
    for case, (rows, sensors, metrics, kind, absent, layout, late) in CASES.items():
        view = _hot(sorted(CASES).index(case), rows, sensors, metrics, kind, absent, layout, late).view()
        order = segments.by_sensor_then_ts(view.sensor, view.ts)
        held = np.flatnonzero(np.bincount(view.metric))
        if segments._rectangular(order, view.row, view.metric, view.value) is not None:
            paths.add("gather")
            assert layout == "fixed" and not absent
        else:
            paths.add("scatter" if held.shape[0] * rows <= 2 * view.metric.shape[0] + rows else "sparse")
    assert paths == {"gather", "scatter", "sparse"}


@pytest.mark.parametrize("seed", range(6))
def test_column_and_metric_blocks_equal_the_reference(seed: int) -> None:
    """What compaction calls: column_blocks of a dense column, metric_blocks of triples."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12 * BLOCK_ROWS))
    column = _values(rng, ("decimals", "raw", "odd")[seed % 3], (1, n))[0]
    column[rng.random(n) < (0.0, 0.01, 0.5)[seed % 3]] = np.nan
    assert segments.column_blocks(column) == reference.column_blocks(column)
    rows = np.flatnonzero(~np.isnan(column))
    assert segments.metric_blocks(rows, column[rows], n) == reference.metric_blocks(rows, column[rows], n)


def test_sparse_columns_keep_lexsort_order_for_repeated_pairs() -> None:
    """A (row, metric) pair given twice (never by hot.py) still encodes as lexsort ordered it."""
    rng = np.random.default_rng(3)
    n = 3 * BLOCK_ROWS + 5
    rows = np.sort(rng.integers(0, n, 20_000))
    metric = rng.integers(0, 30, rows.shape[0]).astype(np.int32)
    rows, metric = np.append(rows, rows[:50]), np.append(metric, metric[:50])  # repeats
    value = rng.normal(0, 1, rows.shape[0])
    expected = reference._sparse_columns(rows, metric, value, n)
    assert segments._sparse_columns(rows, metric, value, n) == expected
