"""The segment build's many-block encoders (codec.py's *_planes, compress_many and
segment.column_blocks / timestamp_frames) give byte for byte the per-block frames."""

import numpy as np
import pytest

from lithair_node.machine.engine import codec
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.segment import BLOCK_ROWS


def per_block(column: np.ndarray) -> dict[int, tuple[int, bytes, bytes]]:
    """The reference: each block alone, as segment.seal did before (metric_blocks' rule)."""
    blocks, hint = {}, codec.RAW
    for block, b in enumerate(range(0, column.shape[0], BLOCK_ROWS)):
        chunk = column[b : b + BLOCK_ROWS]
        mask = ~np.isnan(chunk)
        if not mask.any():
            continue
        presence = b""
        if not mask.all():
            presence = codec.compress(np.packbits(mask).tobytes())
            chunk = chunk[mask]
        hint, frame = codec.encode_floats(chunk, hint)
        blocks[block] = (hint, presence, frame)
    return blocks


def _column(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(-(-n // BLOCK_ROWS)):
        kind = rng.integers(0, 9)
        size = BLOCK_ROWS
        if kind == 0:
            part = rng.normal(0, 1e3, size)  # raw
        elif kind == 1:
            part = np.round(rng.normal(20, 3, size), int(rng.integers(0, 7)))  # decimals
        elif kind == 2:
            part = np.round(rng.normal(0, 1, size), 2)
            part[rng.integers(0, size, 30)] = np.nan  # partial presence
        elif kind == 3:
            part = np.full(size, np.nan)  # empty block
        elif kind == 4:
            part = np.round(rng.normal(0, 1, size), 3)
            part[rng.integers(0, size, 3)] = -0.0  # -0.0 is not decimal-exact
        elif kind == 5:
            part = rng.integers(-2**62, 2**62, size).astype(np.float64)  # too large to scale
        elif kind == 6:
            part = np.round(rng.normal(0, 1, size), 1)
            part[rng.integers(0, size)] = np.inf
        else:
            part = np.round(rng.normal(0, 5, size), int(k % 4))  # the hint changes
        parts.append(part)
    return np.concatenate(parts)[:n]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("n", [1, 100, BLOCK_ROWS, 5 * BLOCK_ROWS, 9 * BLOCK_ROWS + 777])
def test_column_blocks_equal_the_per_block_frames(seed, n):
    column = _column(seed, n)
    assert segments.column_blocks(column) == per_block(column)


@pytest.mark.parametrize("n", [1, 2, 3, BLOCK_ROWS, 3 * BLOCK_ROWS + 5])
def test_timestamp_frames_equal_the_per_block_frames(n):
    rng = np.random.default_rng(n)
    ts = np.sort(rng.integers(0, 2**50, n)) + 1_700_000_000_000_000
    ts[n // 2 :] -= 7  # not monotonic: any int64 order encodes
    expected = tuple(codec.encode_timestamps(ts[b : b + BLOCK_ROWS]) for b in range(0, n, BLOCK_ROWS))
    assert segments.timestamp_frames(ts) == expected
