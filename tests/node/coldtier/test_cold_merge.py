"""cold_reads' merge of the cold tier's chunks into the engine's: one ascending series, and
a reading both hold (a view taken before a tiering entry applied) counted once."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from lithair_node.node.queries.cold_reads import _merge


def chunks(ts: np.ndarray, size: int, tag: float) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(ts[i:i + size], np.full((1, ts[i:i + size].shape[0]), tag))
            for i in range(0, ts.shape[0], size)]


@given(st.sets(st.integers(0, 400), max_size=120), st.sets(st.integers(0, 400), max_size=120),
       st.integers(1, 9), st.integers(1, 9))
def test_merge_is_the_sorted_union_and_the_engine_wins(cold: set[int], hot: set[int],
                                                       cold_size: int, hot_size: int) -> None:
    c, h = np.array(sorted(cold), np.int64), np.array(sorted(hot), np.int64)
    merged = list(_merge(iter(chunks(c, cold_size, 1.0)), chunks(h, hot_size, 2.0)))
    ts = np.concatenate([t for t, _ in merged]) if merged else np.empty(0, np.int64)
    tags = np.concatenate([v[0] for _, v in merged]) if merged else np.empty(0)
    np.testing.assert_array_equal(ts, np.array(sorted(cold | hot), np.int64))
    np.testing.assert_array_equal(tags, [2.0 if t in hot else 1.0 for t in ts.tolist()])
