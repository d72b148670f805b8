"""A segment's timestamps in row order, whole, for late lookups (dedup.py): a wide late batch
searches runs all over a segment, and joining its blocks again for every batch cost more
than the search itself. Bounded apart from the block cache (whose reads it would evict):
four segments of 512K rows. Not state, like the block cache: a hit is the decoded column."""

from __future__ import annotations

import numpy as np

from lithair_node.machine.engine import codec
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.block_cache import BlockCache
from lithair_node.machine.engine.segment import Segment

WHOLE_TS = BlockCache(16 << 20)


def all_ts(segment: Segment) -> np.ndarray:
    """Every row's timestamp (read-only; decoded once while cached)."""
    return WHOLE_TS.get(segment, -1, 0, lambda: _joined(segment))


def _joined(segment: Segment) -> np.ndarray:
    rows = segments.BLOCK_ROWS  # read late: tests shrink it
    blocks = [codec.decode_timestamps(frame, min(rows, segment.rows - i * rows))
              for i, frame in enumerate(segment.ts_frames)]
    out = np.concatenate(blocks) if blocks else np.empty(0, dtype=np.int64)
    out.flags.writeable = False
    return out
