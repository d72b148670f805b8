"""Leveled compaction of sealed segments (Prometheus merges 2h blocks into larger ones,
InfluxDB TSM compacts into levels): FAN_IN neighbouring segments of one level are merged
into one of the next, so a sensor's rows, spread thin over every seal (a segment is cut
across all sensors), come to lie together in few segments and few blocks.

Deterministic: at a cut (Engine.seal) the run merged is chosen from the segment list alone
(row counts and seal_rows, never the clock): every segment but the last, the previous cut's
part. merging.py builds it off the apply path and the cut that finds SWAP_AFTER segments
after the run swaps it in (due: a count of segments, so a restored node swaps at the same
cut), so every node, and every node restored from a snapshot, holds the same segments at
every log index. The readings hash is untouched (the digest is computed from cells, not
segment layout).

Bounded: at most one merge per cut, and merged segments stop at level MAX_LEVEL, so one
merge rewrites at most FAN_IN ** MAX_LEVEL seals' rows, and a row is rewritten at most
MAX_LEVEL times (the amortised cost: MAX_LEVEL re-seals per row).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from lithair_node.machine.engine import column_decode, summaries
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.segment import Segment

FAN_IN = 8
MAX_LEVEL = 1
# Cuts from a merge's plan to its swap: its build has that many seal intervals to finish.
# Beside an apply thread at full speed (a cut every ~0.7 s) an 8-seal build took 2.8-4.1 s,
# so FAN_IN // 2 still waited at 2 of 4 swaps (engine-pauses-20261201T214224Z.json). At
# most FAN_IN: with one merge pending at a time, merges must keep up with the seals (at
# FAN_IN the next run is complete, and planned, at the cut that swaps the previous one).
SWAP_AFTER = FAN_IN
# Off by default. Merges are built on their own thread (merging.py, Engine.merges) and
# swapped in SWAP_AFTER cuts after their plan, so applying as fast as it can the swap rarely
# waits (bench_engine --pauses: engine-pauses-20261201T215109Z.json), and reads of sealed
# segments get faster. But each node then rewrites every row once more: on the shared
# 2-core box, three nodes ingesting 10M readings through HTTP ran at 161.5K readings/s
# with it against 231.3K/s without, in one invocation (memory-20261201T224100Z.json), for
# 1-2 B/reading less memory. A node turns it on with `lithair serve --segment-compaction`
# (Engine.compaction); tests and benchmarks set this default.
ENABLED = False


def level(rows: int, seal_rows: int) -> int:
    """0 for a seal's worth of rows, L once it holds at least half of FAN_IN ** L seals'
    (segments retention rewrote smaller fall back and can merge again)."""
    found = 0
    while found < MAX_LEVEL and 2 * rows >= seal_rows * FAN_IN ** (found + 1):
        found += 1
    return found


def run_start(held: Sequence[Segment], seal_rows: int) -> int | None:
    """Where the merge of `held` starts: the oldest run of FAN_IN neighbours of the lowest
    level below MAX_LEVEL that has one (None: nothing to merge)."""
    return _run(held, seal_rows)


def due(count: int, at: int) -> bool:
    """Whether the merge of the run at `at` is swapped in at a cut that finds `count`
    segments (before its own part is added): once SWAP_AFTER follow the run. A run is
    planned at the cut after its last segment's, and each cut adds one: SWAP_AFTER cuts
    later (sooner if retention's rewrites made an older run, already followed by more)."""
    return count - (at + FAN_IN) >= min(SWAP_AFTER, FAN_IN)


def swapped(held: Sequence[Segment], at: int, merged: Segment) -> list[Segment]:
    """`held` with held[at : at + FAN_IN] replaced by `merged`, renumbered 0..n-1 (snapshot
    files name segments by position, as after retention)."""
    kept = [*held[:at], merged, *held[at + FAN_IN :]]
    return [renumbered(s, i) for i, s in enumerate(kept)]


def after_seal(held: list[Segment], seal_rows: int) -> list[Segment]:
    """The segments after at most one merge, built here (tests; the engine uses merging.py)."""
    at = _run(held, seal_rows)
    return held if at is None else swapped(held, at, merge(held[at : at + FAN_IN], at))


def _run(held: Sequence[Segment], seal_rows: int) -> int | None:
    levels = [level(s.rows, seal_rows) for s in held]
    for wanted in range(MAX_LEVEL):
        streak = 0
        for i, found in enumerate(levels):
            streak = streak + 1 if found == wanted else 0
            if streak == FAN_IN:
                return i + 1 - FAN_IN
    return None


def renumbered(segment: Segment, number: int) -> Segment:
    """A segment (or a part being sealed: it knows how) under another number."""
    if segment.number == number:
        return segment
    if not isinstance(segment, Segment):
        return segment.renumbered(number)  # type: ignore[no-any-return]
    return dataclasses.replace(segment, number=number)  # frames and run index kept


def merge(parts: Sequence[Segment], number: int) -> Segment:
    """One segment holding every row of `parts` ((sensor, ts) unique across them: dedup),
    byte for byte what seal() of all their rows gives. Each part's columns are decoded
    whole (column_decode: a few calls a column, not a few a block), a metric column at a
    time into one line of every merged row (transient memory: a few arrays of its rows)."""
    offsets = np.cumsum([0, *(p.rows for p in parts)]).tolist()
    n = offsets[-1]
    sensor = np.concatenate([np.repeat(p.sensors, np.diff(p.starts)) for p in parts])
    ts = np.empty(n, dtype=np.int64)
    for p, first in zip(parts, offsets, strict=False):
        ts[first : first + p.rows] = column_decode.timestamps(p)
    order = merged_order(sensor, ts)
    sensor, ts = sensor[order], ts[order]  # the unsorted copies freed
    columns: dict[int, dict[int, tuple[int, bytes, bytes]]] = {}
    held_metrics = sorted({m for p in parts for m in p.columns})
    starts = np.append(np.flatnonzero(np.diff(sensor, prepend=-1)), n)
    # The run summaries seal() would keep for these rows, a metric line at a time.
    summarized = summaries.worth_it(len(held_metrics), starts.shape[0] - 1, n)
    partials: list[np.ndarray] = []
    for m in held_metrics:
        line = np.full(n, np.nan)
        held = sum(column_decode.values_into(p, m, line[first : first + p.rows])
                   for p, first in zip(parts, offsets, strict=False))
        line = line[order]  # values are never NaN: NaN marks a row without one
        if summarized:
            partials.append(summaries.line_partials(line, starts))
        if 8 * held >= n:  # dense: every row's frames at once
            columns[m] = segments.column_blocks(line)
            continue
        rows = np.flatnonzero(~np.isnan(line))  # ascending: no sort
        columns[m] = segments.metric_blocks(rows, line[rows], n)
    summary = np.stack(partials, axis=1) if summarized and partials else None
    return segments.with_run_index(segments.assemble(number, sensor, ts, columns), ts,
                                   np.asarray(held_metrics, dtype=np.int64), summary)


def merged_order(sensor: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """(sensor, ts) order of concatenated sorted segments. One int64 key when sensor and ts
    span fit: the concatenation is nearly sorted (runs, few late rows), which timsort
    (numpy's stable int64 sort) orders in about linear time."""
    low = int(ts.min()) if ts.shape[0] else 0
    t_bits = (int(ts.max()) - low).bit_length() if ts.shape[0] else 0
    if int(sensor.max(initial=0)).bit_length() + t_bits <= 62:
        return np.argsort((sensor << t_bits) | (ts - low), kind="stable")
    return np.lexsort((ts, sensor))
