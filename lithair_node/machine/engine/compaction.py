"""Leveled compaction of sealed segments (Prometheus merges 2h blocks into larger ones,
InfluxDB TSM compacts into levels): FAN_IN neighbouring segments of one level are merged
into one of the next, so a sensor's rows, spread thin over every seal (a segment is cut
across all sensors), come to lie together in few segments and few blocks.

Deterministic: it runs inside apply right after a seal (Engine.seal), and which segments
merge depends only on the segment list (row counts) and seal_rows, never on the clock, so
every node, and every node restored from a snapshot, holds the same segments. The readings
hash is untouched (the digest is computed from cells, not segment layout).

Bounded: at most one merge per seal, and merged segments stop at level MAX_LEVEL, so one
merge rewrites at most FAN_IN ** MAX_LEVEL seals' rows, and a row is rewritten at most
MAX_LEVEL times (the amortised cost: MAX_LEVEL re-seals per row).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lithair_node.machine.engine import codec
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.segment import BLOCK_ROWS, Segment

FAN_IN = 8
MAX_LEVEL = 1


def level(rows: int, seal_rows: int) -> int:
    """0 for a seal's worth of rows, L once it holds at least half of FAN_IN ** L seals'
    (segments retention rewrote smaller fall back and can merge again)."""
    found = 0
    while found < MAX_LEVEL and 2 * rows >= seal_rows * FAN_IN ** (found + 1):
        found += 1
    return found


def after_seal(held: list[Segment], seal_rows: int) -> list[Segment]:
    """The segments after at most one merge: the oldest run of FAN_IN neighbours of the
    lowest level below MAX_LEVEL that has one; renumbered 0..n-1 (snapshot files name
    segments by position, as after retention)."""
    at = _run(held, seal_rows)
    if at is None:
        return held
    merged = merge(held[at : at + FAN_IN], at)
    kept = [*held[:at], merged, *held[at + FAN_IN :]]
    return [s if s.number == i else _renumbered(s, i) for i, s in enumerate(kept)]


def _run(held: Sequence[Segment], seal_rows: int) -> int | None:
    levels = [level(s.rows, seal_rows) for s in held]
    for wanted in range(MAX_LEVEL):
        streak = 0
        for i, found in enumerate(levels):
            streak = streak + 1 if found == wanted else 0
            if streak == FAN_IN:
                return i + 1 - FAN_IN
    return None


def _renumbered(segment: Segment, number: int) -> Segment:
    return Segment(number, segment.rows, segment.sensors, segment.starts, segment.min_ts,
                   segment.max_ts, segment.ts_frames, segment.columns)


def merge(parts: Sequence[Segment], number: int) -> Segment:
    """One segment holding every row of `parts` ((sensor, ts) unique across them: dedup)."""
    sensor, ts, row, metric, value = [], [], [], [], []
    offset = 0
    for part in parts:
        sensor.append(np.repeat(part.sensors, np.diff(part.starts)))
        ts.append(np.concatenate([codec.decode_timestamps(frame, _size(part, block))
                                  for block, frame in enumerate(part.ts_frames)]))
        for m, blocks in part.columns.items():
            for block, frame in blocks.items():
                rows, values = _frame_rows(part, block, frame)
                row.append(rows + offset)
                metric.append(np.full(rows.shape[0], m, dtype=np.int64))
                value.append(values)
        offset += part.rows
    empty_i, empty_f = np.empty(0, dtype=np.int64), np.empty(0)
    return segments.seal(number, np.concatenate(sensor), np.concatenate(ts),
                         np.concatenate(row or [empty_i]), np.concatenate(metric or [empty_i]),
                         np.concatenate(value or [empty_f]))


def _size(part: Segment, block: int) -> int:
    return min(BLOCK_ROWS, part.rows - block * BLOCK_ROWS)


def _frame_rows(part: Segment, block: int, frame: tuple[int, bytes, bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(rows in the segment, values) of one metric block, decoded without the read cache."""
    scale, presence, data = frame
    size = _size(part, block)
    first = block * BLOCK_ROWS
    if not presence:
        return np.arange(first, first + size, dtype=np.int64), codec.decode_floats(scale, data, size)
    bits = np.frombuffer(codec.decompress(presence, (size + 7) // 8), np.uint8)
    rows = np.flatnonzero(np.unpackbits(bits, count=size)) + first
    return rows, codec.decode_floats(scale, data, rows.shape[0])
