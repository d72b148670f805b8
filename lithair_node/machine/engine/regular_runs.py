"""Regular runs: a sensor's run in a segment whose timestamps are exactly first + k x step
(a sensor reporting at a fixed interval, no gap) is flagged at seal time, one bit per run,
so its timestamps are computed instead of decoded (a sensor's read decodes a 4,096-row
timestamp frame per segment otherwise: ~2/3 of an hourly aggregate's decode time).

Derived from the timestamps alone, exactly (int64 arithmetic): the same on every node, and
a computed timestamp is the decoded one. A segment without the bits decodes.
"""

from __future__ import annotations

import numpy as np


def flags(ts: np.ndarray, starts: np.ndarray, min_ts: np.ndarray, max_ts: np.ndarray) -> np.ndarray:
    """Packed bits (np.packbits), one per run (runs non-empty): its timestamps are regular."""
    if not ts.shape[0]:
        return np.packbits(np.zeros(0, dtype=bool))
    n = np.diff(starts)
    span = max_ts - min_ts
    step = span // np.maximum(n - 1, 1)
    offset = np.arange(ts.shape[0], dtype=np.int64) - np.repeat(starts[:-1], n)
    exact = ts == np.repeat(min_ts, n) + offset * np.repeat(step, n)
    regular = np.logical_and.reduceat(exact, starts[:-1]) & (step * (n - 1) == span)
    return np.packbits(regular)


def steps(packed: np.ndarray, starts: np.ndarray, min_ts: np.ndarray,
          max_ts: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The step of each run `at` that is regular, -1 for the others."""
    regular = np.unpackbits(packed, count=min_ts.shape[0]).astype(bool)[at]
    n = starts[at + 1] - starts[at]
    step = (max_ts[at] - min_ts[at]) // np.maximum(n - 1, 1)
    return np.where(regular, step, -1)


def run_ts(packed: np.ndarray, starts: np.ndarray, min_ts: np.ndarray, max_ts: np.ndarray,
           a: int, b: int) -> np.ndarray | None:
    """The timestamps of rows [a, b) when they are exactly one regular run, else None."""
    i = int(np.searchsorted(starts, a, side="right")) - 1
    if i < 0 or i >= min_ts.shape[0] or starts[i] != a or starts[i + 1] != b:
        return None
    if not (int(packed[i >> 3]) >> (7 - (i & 7))) & 1:
        return None
    first = int(min_ts[i])
    if b - a == 1:
        return np.array([first], dtype=np.int64)
    return first + np.arange(b - a, dtype=np.int64) * ((int(max_ts[i]) - first) // (b - a - 1))
