"""Rows of sealed segments decoded many at a time, and only the rows a read needs.

segment.values_between / ts_between decode a block at a time: two zstd calls and a dozen
numpy calls a block, and a run of more than FEW_ROWS rows decodes (and transposes) the
whole 4,096-row block to keep it in the block cache. A random sensor's block is seldom
there (1,000 sensors: ~530 rows a segment, ~10 segments a day, 400 MB of decoded columns
against a 32 MB cache), so the transposition of the rows nobody asked for was ~2/3 of the
decode. Here every (segment, metric, rows) piece of a read is decoded in one pass:

- a block already in the block cache is sliced, nothing decoded;
- a block wholly asked for is decoded whole and cached (as dense_block);
- the other blocks: one zstd call for all of their frames (each decompressed once however
  many pieces it serves), then only the rows asked for are transposed (scaled values and
  timestamps are running sums: the rows from the block's first), uncached.

The values are those of segment._gather, bit for bit: the same codec functions over the
same words (codec.unshuffled_planes, timestamps_of_words, floats_of_words), a prefix of a
running sum being the same sums. Blocks with a presence bitmap (sparse metrics) and parts
being sealed go through segment.py's own path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lithair_node.machine.engine import codec, regular_runs
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.block_cache import BLOCKS
from lithair_node.machine.engine.segment import Segment

Piece = tuple[object, int, int, int]  # (segment or part, metric (-1: timestamps), a, b)


def pieces(asked: Sequence[Piece]) -> list[np.ndarray]:
    """For each (segment, metric, a, b): what segment.ts_between(a, b) (metric -1, without
    the regular-run shortcut) or values_between(metric, a, b) gives, bit for bit."""
    out: list[list[np.ndarray | None]] = []
    jobs: dict[tuple[int, int, int], list[tuple[int, int, int, int]]] = {}  # frame -> uses
    frame_of: dict[tuple[int, int, int], tuple[Segment, int, int]] = {}
    for i, (segment, metric, a, b) in enumerate(asked):
        if not isinstance(segment, Segment):  # a part being sealed reads its own columns
            out.append([segment.ts_between(a, b) if metric < 0  # type: ignore[attr-defined]
                        else segment.values_between(metric, a, b)])  # type: ignore[attr-defined]
            continue
        if b <= a or (metric >= 0 and metric not in segment.columns):
            out.append([np.empty(0, dtype=np.int64 if metric < 0 else np.float64) if b <= a
                        else np.full(b - a, np.nan)])
            continue
        first, last = a // segments.BLOCK_ROWS, (b - 1) // segments.BLOCK_ROWS
        slots: list[np.ndarray | None] = []
        for block in range(first, last + 1):
            base = block * segments.BLOCK_ROWS
            lo, hi = max(a, base) - base, min(b, base + segments.BLOCK_ROWS) - base
            slots.append(_direct(segment, metric, block, lo, hi))
            if slots[-1] is None:
                key = (id(segment), metric, block)
                frame_of[key] = (segment, metric, block)
                jobs.setdefault(key, []).append((i, len(slots) - 1, lo, hi))
        out.append(slots)
    if jobs:
        _decode_jobs(jobs, frame_of, out)
    return [slots[0] if len(slots) == 1 else np.concatenate(slots)  # type: ignore[arg-type]
            for slots in out]


def _direct(segment: Segment, metric: int, block: int, lo: int, hi: int) -> np.ndarray | None:
    """Rows [lo, hi) of a block without the batch: cached, whole, absent or with a presence
    bitmap; None for a dense frame to decode in the batch."""
    size = min(segments.BLOCK_ROWS, segment.rows - block * segments.BLOCK_ROWS)
    if lo == 0 and hi == size:  # decoded whole and cached (or a cache hit)
        return segments.dense_block(segment, metric, block)
    cached = BLOCKS.peek(segment, metric, block)
    if cached is not None:
        return cached[lo:hi]
    if metric < 0:
        return None
    frame = segment.columns[metric].get(block)
    if frame is None:
        return np.full(hi - lo, np.nan)
    if frame[1]:  # a presence bitmap: segment.py's path (sparse metrics only)
        return segments._rows_of_block(segment, metric, block, lo, hi)
    return None


def _decode_jobs(jobs: dict[tuple[int, int, int], list[tuple[int, int, int, int]]],
                 frame_of: dict[tuple[int, int, int], tuple[Segment, int, int]],
                 out: list[list[np.ndarray | None]]) -> None:
    keys = list(jobs)
    frames, sizes, shapes = [], [], []
    for key in keys:
        segment, metric, block = frame_of[key]
        size = min(segments.BLOCK_ROWS, segment.rows - block * segments.BLOCK_ROWS)
        if metric < 0:
            scale, frame = codec.TIMESTAMPS, segment.ts_frames[block]
        else:
            scale, _, frame = segment.columns[metric][block]
        frames.append(frame)
        sizes.append(8 * size)
        shapes.append((scale, size))
    for key, planes, (scale, size) in zip(keys, codec.decompress_many(frames, sizes), shapes,
                                          strict=True):
        uses = jobs[key]
        lo = min(u[2] for u in uses)
        hi = max(u[3] for u in uses)
        if scale == codec.RAW:  # raw words: only the rows asked for
            rows = codec.unshuffled_planes(planes, size, hi, lo).view(np.float64)
        else:  # running sums: every row from the block's first
            words = codec.unshuffled_planes(planes, size, hi)
            rows = (codec.timestamps_of_words(words) if scale == codec.TIMESTAMPS
                    else codec.floats_of_words(scale, words))[lo:]
        for i, slot, a, b in uses:
            out[i][slot] = rows[a - lo : b - lo]


Located = tuple[object, int, np.ndarray]  # (segment or part, first row, ts of its rows)


def located(parts: Sequence[object], sensor: int, start: int, end: int,
            limit: int | None = None) -> list[Located]:
    """Per segment holding the sensor in [start, end), in order: (segment, first row, ts) of
    its rows in range (at most the first `limit`), ts ascending: what ts_between and two
    binary searches give, the timestamps of irregular runs decoded in one batch."""
    spans: list[tuple[object, int, int]] = []
    ts_of: list[np.ndarray | None] = []
    for segment in parts:
        a, b, first, last = segment.span(sensor)  # type: ignore[attr-defined]
        if a == b or last < start or first >= end:
            continue
        spans.append((segment, a, b))
        ts = None
        if isinstance(segment, Segment) and segment.regular is not None:  # as ts_between
            ts = regular_runs.run_ts(segment.regular, segment.starts, segment.min_ts,
                                     segment.max_ts, a, b)
        ts_of.append(ts)
    missing = [i for i, ts in enumerate(ts_of) if ts is None]
    for i, ts in zip(missing, pieces([(spans[i][0], -1, spans[i][1], spans[i][2])
                                      for i in missing]), strict=True):
        ts_of[i] = ts
    found: list[Located] = []
    for (segment, a, _), ts in zip(spans, ts_of, strict=True):
        assert ts is not None
        lo, hi = ts.searchsorted((start, end)).tolist()
        if limit is not None:
            hi = min(hi, lo + limit)
        if hi > lo:
            found.append((segment, a + lo, ts[lo:hi]))
    return found


def values_of(found: Sequence[Located], metric_ids: np.ndarray) -> list[np.ndarray]:
    """(metrics x rows) values of each located run, NaN where absent: one batch for all."""
    metrics = metric_ids.tolist()
    got = pieces([(segment, metric, a, a + ts.shape[0]) for segment, a, ts in found
                  for metric in metrics])
    out = []
    for i, (_, _, ts) in enumerate(found):
        values = np.empty((len(metrics), ts.shape[0]))
        for row in range(len(metrics)):
            values[row] = got[i * len(metrics) + row]
        out.append(values)
    return out
