"""A sealed segment's whole columns decoded in a few calls, for merges (compaction.merge).

Decoding block by block (segment.dense_block) makes two zstd calls and a dozen numpy calls a
block: a merge of 8 seals decoded ~5,400 blocks, and beside a busy apply thread each call
that let the GIL go waited up to a switch interval (5 ms) to take it back, so a 1 s merge
took 3-7 s. Here every full block of a column is decompressed in one zstd call and undone
in a few numpy passes over a (blocks x BLOCK_ROWS) array: the same values, bit for bit, as
codec.decode_timestamps / decode_floats (the same integer and float operations, a row at a
time along axis 1). Blocks with a presence bitmap, and the short last block, go one at a
time through codec (there are few).

Uses codec's per-thread decompressor and zigzag (the frame format is codec's: a change
there shows in the merge-equals-seal tests).
"""

from __future__ import annotations

import numpy as np

from lithair_node.machine.engine import codec
from lithair_node.machine.engine.segment import BLOCK_ROWS, Segment


def _words(frames: list[bytes]) -> np.ndarray:
    """(len(frames) x BLOCK_ROWS) uint64: each full block's shuffled words, unshuffled."""
    size = 8 * BLOCK_ROWS
    found = codec._codecs.decompressor.multi_decompress_to_buffer(
        frames, decompressed_sizes=np.full(len(frames), size, dtype=np.uint64), threads=0)
    planes = np.empty((len(frames), size), dtype=np.uint8)
    for i in range(len(frames)):
        planes[i] = np.frombuffer(found[i], dtype=np.uint8)
    out = np.empty((len(frames), BLOCK_ROWS, 8), dtype=np.uint8)
    np.copyto(out.transpose(0, 2, 1), planes.reshape(len(frames), 8, BLOCK_ROWS))
    return out.view(np.uint64).reshape(len(frames), BLOCK_ROWS)


def timestamps(segment: Segment) -> np.ndarray:
    """Every row's timestamp (codec.decode_timestamps of each block)."""
    full = segment.rows // BLOCK_ROWS
    out = np.empty(segment.rows, dtype=np.int64)
    if full:
        deltas = codec._unzigzag(_words(list(segment.ts_frames[:full])))
        deltas[:, 1:] = np.cumsum(deltas[:, 1:], axis=1)  # [ts0, d1, d2 - d1, ...] undone
        out[: full * BLOCK_ROWS] = np.cumsum(deltas, axis=1).reshape(-1)
    if segment.rows > full * BLOCK_ROWS:
        out[full * BLOCK_ROWS :] = codec.decode_timestamps(segment.ts_frames[full],
                                                           segment.rows - full * BLOCK_ROWS)
    return out


def values_into(segment: Segment, metric: int, out: np.ndarray) -> int:
    """Metric's values of every row written into `out` (segment.rows long), rows without
    one left as they are; returns how many rows hold one."""
    blocks = segment.columns.get(metric, {})
    dense: list[int] = []  # full blocks where every row holds a value
    held = 0
    for block, (scale, presence, data) in blocks.items():
        size = min(BLOCK_ROWS, segment.rows - block * BLOCK_ROWS)
        if not presence and size == BLOCK_ROWS:
            dense.append(block)
            continue
        first = block * BLOCK_ROWS
        if not presence:
            out[first : first + size] = codec.decode_floats(scale, data, size)
            held += size
            continue
        bits = np.frombuffer(codec.decompress(presence, (size + 7) // 8), np.uint8)
        rows = np.flatnonzero(np.unpackbits(bits, count=size))
        out[first + rows] = codec.decode_floats(scale, data, rows.shape[0])
        held += rows.shape[0]
    if dense:
        _dense_into(blocks, dense, out)
    return held + len(dense) * BLOCK_ROWS


def _dense_into(blocks: dict[int, tuple[int, bytes, bytes]], dense: list[int],
                out: np.ndarray) -> None:
    scales = np.array([blocks[b][0] for b in dense], dtype=np.int64)
    words = _words([blocks[b][2] for b in dense])
    raw = scales == codec.RAW
    values = np.empty(words.shape, dtype=np.float64)
    values[raw] = words[raw].view(np.float64)
    scaled = np.flatnonzero(~raw)
    if scaled.shape[0]:
        sums = np.cumsum(codec._unzigzag(words[scaled]), axis=1).astype(np.float64)
        factors = np.array([10.0 ** int(s) for s in scales[scaled].tolist()])  # as decode_floats
        values[scaled] = sums / factors[:, None]
    full = out.shape[0] // BLOCK_ROWS  # the dense blocks are full ones: all below it
    out[: full * BLOCK_ROWS].reshape(full, BLOCK_ROWS)[np.array(dense, dtype=np.int64)] = values
