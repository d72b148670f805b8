"""column_decode (a merge's decoding, whole columns at once) gives bit for bit what decoding
each block does (segment.dense_block), for dense, sparse, raw and scaled blocks."""

import numpy as np
import pytest

from lithair_node.machine.engine import column_decode
from lithair_node.machine.engine import segment as segments


@pytest.mark.parametrize("seed", range(6))
def test_whole_columns_decode_as_their_blocks(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30_000))
    sensor = rng.integers(0, 40, n).astype(np.int32)
    ts = np.cumsum(rng.integers(1, 10**6 if seed % 2 else 3, n)).astype(np.int64) + 10**15
    present = rng.random((4, n)) < np.array([[1.0], [0.9], [0.05], [1.0]])
    metric_row, row = np.nonzero(present)
    values = np.round(rng.normal(0, 100, metric_row.shape[0]), int(rng.integers(0, 5)))
    values[metric_row == 3] = rng.random(int((metric_row == 3).sum()))  # raw blocks
    segment = segments.seal(0, sensor, ts, row, metric_row.astype(np.int32), values)
    blocks = range(-(-n // segments.BLOCK_ROWS))
    whole_ts = np.concatenate([segments._decoded_block(segment, -1, b) for b in blocks])
    assert np.array_equal(column_decode.timestamps(segment), whole_ts)
    for m in segment.columns:
        want = np.concatenate([segments._decoded_block(segment, m, b) for b in blocks])
        got = np.full(n, np.nan)
        held = column_decode.values_into(segment, m, got)
        assert held == int(np.count_nonzero(~np.isnan(want)))
        assert got.view(np.uint64).tolist() == want.view(np.uint64).tolist()
