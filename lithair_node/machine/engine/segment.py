"""Sealed segments: immutable, sorted by (sensor number, timestamp), compressed by column.

    index:    sensors (ascending), starts (row range of each sensor), min_ts / max_ts per sensor
    ts:       one delta-of-delta frame per block of BLOCK_ROWS rows
    metric m: per block holding any of its values: (scale, presence, values) where presence
              is a zstd'd bitmap of the block's rows that carry m (empty: every row does)
    run index (seal() only, in memory, not in the blob): regular-run bits (regular_runs.py)
              and per-sensor run summaries (summaries.py), so reads decode less

Blocks keep a read cheap: a sensor's rows lie in one or two blocks, and only the blocks and
metric columns a read needs are decompressed (then cached, see dense_block).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import msgpack
import numpy as np

from lithair_node.machine.engine import codec, regular_runs, summaries
from lithair_node.machine.engine.block_cache import BLOCKS

BLOCK_ROWS = 4096
FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)  # eq=False: compared by identity (the block cache's key)
class Segment:
    number: int  # seal order: the same on every node
    rows: int
    sensors: np.ndarray  # int64, ascending
    starts: np.ndarray  # int64, len(sensors) + 1
    min_ts: np.ndarray
    max_ts: np.ndarray
    ts_frames: tuple[bytes, ...]
    columns: dict[int, dict[int, tuple[int, bytes, bytes]]]  # metric -> block -> frame
    # (5, len(summary_metrics), sensors) run partials (summaries.py), or None: read by decoding
    summary: np.ndarray | None = None
    summary_metrics: np.ndarray | None = None  # int64, ascending
    regular: np.ndarray | None = None  # packed bits, one per sensor (regular_runs.py)

    def span(self, sensor: int) -> tuple[int, int, int, int]:
        """(first row, end row, first ts, last ts) of the sensor here; rows empty if absent."""
        i = int(np.searchsorted(self.sensors, sensor))
        if i == self.sensors.shape[0] or self.sensors[i] != sensor:
            return 0, 0, 0, -1
        return int(self.starts[i]), int(self.starts[i + 1]), int(self.min_ts[i]), int(self.max_ts[i])

    def ts_between(self, a: int, b: int) -> np.ndarray:
        if self.regular is not None and b > a:  # a regular run's are computed, not decoded
            found = regular_runs.run_ts(self.regular, self.starts, self.min_ts, self.max_ts, a, b)
            if found is not None:
                return found
        return _gather(self, -1, a, b)

    def values_between(self, metric: int, a: int, b: int) -> np.ndarray:
        """The metric's values of rows [a, b), NaN where absent."""
        if metric not in self.columns:
            return np.full(b - a, np.nan)
        return _gather(self, metric, a, b)

    def metric_ids(self) -> np.ndarray:
        """The metric ids holding a value here, ascending."""
        return np.array(sorted(self.columns), dtype=np.int64)

    def nbytes(self) -> int:
        index = sum(x.nbytes for x in (self.sensors, self.starts, self.min_ts, self.max_ts))
        index += sum(x.nbytes for x in (self.summary, self.regular) if x is not None)
        frames = sum(map(len, self.ts_frames)) + sum(
            len(p) + len(v) for blocks in self.columns.values() for _, p, v in blocks.values())
        return index + frames


def seal(number: int, sensor: np.ndarray, ts: np.ndarray, row: np.ndarray, metric: np.ndarray,
         value: np.ndarray, order: np.ndarray | None = None) -> Segment:
    """A segment holding the hot buffer's columns (rows and their value triples, none NaN);
    `order`: by_sensor_then_ts of them, if already known."""
    order = by_sensor_then_ts(sensor, ts) if order is None else order
    n = ts.shape[0]
    table = _rectangular(order, row, metric, value)
    if table is not None:
        ts = ts[order]
        return _summarized(assemble(number, sensor[order].astype(np.int64), ts,
                                    dense_columns(*table)), ts, *table)
    rank = np.empty(order.shape[0], dtype=np.int64)
    rank[order] = np.arange(order.shape[0])
    sensor, ts, row = sensor[order].astype(np.int64), ts[order], rank[row]
    held = np.flatnonzero(np.bincount(metric, minlength=1)) if metric.shape[0] else metric
    if held.shape[0] * n <= 2 * metric.shape[0] + n:  # dense enough: a scatter, no sort
        dense = scattered(held, row, metric, value, n)
        return _summarized(assemble(number, sensor, ts, dense_columns(held, dense)), ts, held, dense)
    return _summarized(assemble(number, sensor, ts, _sparse_columns(row, metric, value, n)), ts)


def frames_only(segment: Segment) -> Segment:
    """The segment without its run index (as decode() gives it back)."""
    return dataclasses.replace(segment, summary=None, summary_metrics=None, regular=None)


def _summarized(segment: Segment, ts: np.ndarray, held: np.ndarray | None = None,
                dense: np.ndarray | None = None) -> Segment:
    """The segment with its run index: regular-run bits, and the run summaries of its
    (metrics x rows) values if given and worth it."""
    found = None if dense is None or held is None else summaries.summarize(dense, segment.starts)
    return with_run_index(segment, ts, None if found is None else held, found)


def with_run_index(segment: Segment, ts: np.ndarray, held: np.ndarray | None,
                   summary: np.ndarray | None) -> Segment:
    """The segment with its regular-run bits (from its rows' ts) and `summary` of the
    metrics `held`. seal() and compaction.merge() add them, a restored segment has none:
    derived data, held in memory only, so whether a segment has one changes how fast it
    is read, never what a read answers, nor any snapshot's bytes."""
    regular = regular_runs.flags(ts, segment.starts, segment.min_ts, segment.max_ts)
    return dataclasses.replace(segment, regular=regular, summary=summary,
                               summary_metrics=None if summary is None else
                               np.asarray(held, dtype=np.int64))


def _rectangular(order: np.ndarray, row: np.ndarray, metric: np.ndarray,
                 value: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(held, metrics x rows in `order`) when every row carries the same metrics in the same
    order (a cut of the usual feed: hot.py appends a batch's triples row-major), or None.
    The triples are then a (rows x metrics) table: a gather per metric, no scatter, no rank."""
    n = order.shape[0]
    if not n or not row.shape[0] or row[0] != 0:
        return None
    width = int(np.searchsorted(row, row.dtype.type(1)))  # row 0's triples (rows ascend)
    if width * n != row.shape[0]:
        return None
    rows = np.arange(n, dtype=row.dtype)
    if not (np.array_equal(row[::width], rows) and np.array_equal(row[width - 1 :: width], rows)):
        return None
    first = metric[:width]
    held = np.unique(first).astype(np.int64)
    # Periodic with period width: every row as row 0 (5x cheaper than a broadcast compare).
    if held.shape[0] != width or not np.array_equal(metric[width:], metric[:-width]):
        return None
    # Whole rows gathered (one cache line each), then transposed: ~25% cheaper than a
    # gather per metric column.
    dense = np.ascontiguousarray(np.take(value.reshape(n, width), order, axis=0).T)
    if (np.diff(first) < 0).any():  # rows of dense in held's (ascending) order
        dense = dense[np.argsort(first)]
    return held, dense


def assemble(number: int, sensor: np.ndarray, ts: np.ndarray,
             columns: dict[int, dict[int, tuple[int, bytes, bytes]]]) -> Segment:
    """The segment of rows in (sensor, ts) order (sensor int64) and their metric frames."""
    n = ts.shape[0]
    firsts = np.flatnonzero(np.diff(sensor, prepend=-1))
    starts = np.append(firsts, n)
    ts_frames = timestamp_frames(ts)
    return Segment(number, n, sensor[firsts], starts.astype(np.int64), ts[firsts],
                   ts[starts[1:] - 1], ts_frames, columns)


def scattered(held: np.ndarray, rows: np.ndarray, metric: np.ndarray, value: np.ndarray,
              n: int) -> np.ndarray:
    """(len(held) x n) values of the triples, NaN where absent; held: the metric ids."""
    slot = np.zeros(int(held[-1]) + 1 if held.shape[0] else 0, dtype=np.int64)
    slot[held] = np.arange(held.shape[0]) * n  # a flat index: ~30% cheaper than a 2-D one
    dense = np.full((held.shape[0], n), np.nan)
    dense.reshape(-1)[slot[metric] + rows] = value
    return dense


def dense_columns(held: np.ndarray, dense: np.ndarray) -> dict[int, dict[int, tuple[int, bytes, bytes]]]:
    """The frames _sparse_columns gives, byte for byte, from (metrics x rows), NaN absent."""
    return {m: column_blocks(column) for m, column in zip(held.tolist(), dense, strict=True)}


def timestamp_frames(ts: np.ndarray) -> tuple[bytes, ...]:
    """codec.encode_timestamps of each block, the full blocks in a few passes."""
    full = ts.shape[0] // BLOCK_ROWS
    planes = codec.timestamp_planes(ts[: full * BLOCK_ROWS].reshape(full, BLOCK_ROWS))
    frames = codec.compress_many(planes)
    if ts.shape[0] > full * BLOCK_ROWS:
        frames.append(codec.encode_timestamps(ts[full * BLOCK_ROWS :]))
    return tuple(frames)


CHUNK_BLOCKS = 32  # blocks scaled and planed together: their temporaries stay in cache


def column_blocks(column: np.ndarray) -> dict[int, tuple[int, bytes, bytes]]:
    """One metric's frames from its values of every row (NaN absent), as metric_blocks: the
    full blocks without a NaN (the usual column) in a few passes a chunk of blocks, their
    scales chained block to block as codec.decimal_scale would; the others one at a time.
    Every clean block's frame comes from one zstd call."""
    full = column.shape[0] // BLOCK_ROWS
    body = column[: full * BLOCK_ROWS].reshape(full, BLOCK_ROWS)
    clean = [*(~np.isnan(body.max(axis=1))).tolist(), False]  # max propagates NaN: no mask
    blocks: dict[int, tuple[int, bytes, bytes]] = {}
    planes: list[np.ndarray] = []
    planed: list[tuple[int, int]] = []  # (block, scale) of each plane
    hint = codec.RAW
    for first in range(0, full + 1, CHUNK_BLOCKS):
        ends = min(first + CHUNK_BLOCKS, full + 1)
        mine = [b for b in range(first, min(ends, full)) if clean[b]]
        chunk = body[first : first + len(mine)] if mine == list(range(first, first + len(mine))) \
            else body[mine]
        fewest, scaled = codec.fewest_decimals(chunk)
        fewest_of, scales = fewest.tolist(), []
        for block in range(first, ends):
            if clean[block]:
                hint = codec.chained_scale(body[block], fewest_of[len(scales)], hint)
                scales.append(hint)
                planed.append((block, hint))
                continue
            hint = _unclean_block(column, block, hint, blocks)
        planes += codec.float_planes(chunk, np.array(scales, dtype=np.int64), fewest, scaled)
    for (block, scale), frame in zip(planed, codec.compress_many(planes), strict=True):
        blocks[block] = (scale, b"", frame)
    return dict(sorted(blocks.items()))


def _unclean_block(column: np.ndarray, block: int, hint: int,
                   blocks: dict[int, tuple[int, bytes, bytes]]) -> int:
    """Encode a block holding a NaN (or the short last one) into `blocks`; the next hint."""
    chunk = column[block * BLOCK_ROWS : (block + 1) * BLOCK_ROWS]
    mask = ~np.isnan(chunk)
    present = int(np.count_nonzero(mask))
    if not present:
        return hint
    presence = b""
    if present < chunk.shape[0]:
        presence = codec.compress(np.packbits(mask).tobytes())
        chunk = chunk[mask]
    hint, frame = codec.encode_floats(chunk, hint)
    blocks[block] = (hint, presence, frame)
    return hint


def _sparse_columns(new_row: np.ndarray, metric: np.ndarray, value: np.ndarray,
                    n: int) -> dict[int, dict[int, tuple[int, bytes, bytes]]]:
    # Values grouped by metric, in row order: one argsort of a (metric, row) key, 3x cheaper
    # than lexsort; the same order while the pairs are distinct (hot.py), else lexsort's.
    key = metric.astype(np.int64) * n + new_row
    by_metric = np.argsort(key)
    if (key[by_metric[1:]] == key[by_metric[:-1]]).any():
        by_metric = np.lexsort((new_row, metric))
    metric, new_row, value = metric[by_metric], new_row[by_metric], value[by_metric]
    columns: dict[int, dict[int, tuple[int, bytes, bytes]]] = {}
    metric_starts = np.flatnonzero(np.diff(metric, prepend=-1))
    for a, b in zip(metric_starts.tolist(), [*metric_starts[1:].tolist(), metric.shape[0]], strict=True):
        columns[int(metric[a])] = metric_blocks(new_row[a:b], value[a:b], n)
    return columns


def by_sensor_then_ts(sensor: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Rows in (sensor, ts) order. Rows arrive in time order per sensor unless late, so a
    stable sort by sensor alone (radix-like, cheaper than lexsort) is usually enough."""
    order = np.argsort(sensor, kind="stable")
    s, t = sensor[order], ts[order]
    if ((s[1:] != s[:-1]) | (t[1:] > t[:-1])).all():
        return order
    return np.lexsort((ts, sensor))


def metric_blocks(rows: np.ndarray, values: np.ndarray, n: int) -> dict[int, tuple[int, bytes, bytes]]:
    blocks: dict[int, tuple[int, bytes, bytes]] = {}
    hint = codec.RAW  # the previous block's scale, tried first (neighbouring blocks agree)
    block_of = rows // BLOCK_ROWS
    cuts = np.flatnonzero(np.diff(block_of, prepend=-1))
    for a, b in zip(cuts.tolist(), [*cuts[1:].tolist(), rows.shape[0]], strict=True):
        block = int(block_of[a])
        size = min(BLOCK_ROWS, n - block * BLOCK_ROWS)
        presence = b""
        if b - a < size:
            bitmap = np.zeros(size, dtype=bool)
            bitmap[rows[a:b] - block * BLOCK_ROWS] = True
            presence = codec.compress(np.packbits(bitmap).tobytes())
        scale, frame = codec.encode_floats(values[a:b], hint)
        hint = scale
        blocks[block] = (scale, presence, frame)
    return blocks


def dense_block(segment: Segment, metric: int, block: int) -> np.ndarray:
    """One decoded block of a column (metric -1: timestamps), NaN where absent; read-only
    (cached: block_cache.py)."""
    return BLOCKS.get(segment, metric, block, lambda: _decoded_block(segment, metric, block))


def _decoded_block(segment: Segment, metric: int, block: int) -> np.ndarray:
    size = min(BLOCK_ROWS, segment.rows - block * BLOCK_ROWS)
    if metric < 0:
        out = codec.decode_timestamps(segment.ts_frames[block], size)
    else:
        frame = segment.columns[metric].get(block)
        if frame is not None and not frame[1]:  # every row holds the metric: the decoded array
            out = codec.decode_floats(frame[0], frame[2], size)
        else:
            out = np.full(size, np.nan)
            if frame is not None:
                scale, presence, data = frame
                bits = np.frombuffer(codec.decompress(presence, (size + 7) // 8), np.uint8)
                mask = np.unpackbits(bits, count=size).astype(bool)
                out[mask] = codec.decode_floats(scale, data, int(mask.sum()))
    out.flags.writeable = False
    return out


def rows_at(segment: Segment, metric: int, rows: np.ndarray) -> np.ndarray:
    """A column (metric -1: timestamps) at `rows`, NaN where absent; each block the rows
    touch is decoded once."""
    if not isinstance(segment, Segment):  # a part being sealed (sealing.py) reads its own
        return segment.rows_at(metric, rows)
    if metric >= 0 and metric not in segment.columns:
        return np.full(rows.shape[0], np.nan)
    if not rows.shape[0]:
        return np.empty(0, dtype=np.int64 if metric < 0 else np.float64)
    block = rows // BLOCK_ROWS
    step = np.diff(block)
    if (step >= 0).all():  # ascending (one sensor's run, or sensors asked in number order)
        blocks = block[np.flatnonzero(np.concatenate(([True], step > 0)))]
    else:  # sensors asked in another order: their runs are not in row order
        blocks = np.unique(block)
    parts = [dense_block(segment, metric, b) for b in blocks.tolist()]
    if len(parts) == 1:
        return parts[0][rows - int(blocks[0]) * BLOCK_ROWS]
    # Only the segment's last block is short, and it can only come last.
    return np.concatenate(parts)[np.searchsorted(blocks, block) * BLOCK_ROWS + rows % BLOCK_ROWS]


FEW_ROWS = BLOCK_ROWS // 8  # a read of fewer rows of a block decodes only those, uncached


def _gather(segment: Segment, metric: int, a: int, b: int) -> np.ndarray:
    if b <= a:
        return np.empty(0, dtype=np.int64 if metric < 0 else np.float64)
    first, last = a // BLOCK_ROWS, (b - 1) // BLOCK_ROWS
    offset = first * BLOCK_ROWS
    if first == last and b - a < FEW_ROWS:
        return _rows_of_block(segment, metric, first, a - offset, b - offset)
    parts = [dense_block(segment, metric, block) for block in range(first, last + 1)]
    joined = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return joined[a - offset : b - offset]


def _rows_of_block(segment: Segment, metric: int, block: int, lo: int, hi: int) -> np.ndarray:
    """dense_block(...)[lo:hi], decoding (and transposing) only what those rows need: the
    block cache cannot hold a random sensor's blocks, and a sensor's run is often short."""
    size = min(BLOCK_ROWS, segment.rows - block * BLOCK_ROWS)
    if metric < 0:
        return codec.decode_timestamps(segment.ts_frames[block], size, hi)[lo:]
    out = np.full(hi - lo, np.nan)
    frame = segment.columns[metric].get(block)
    if frame is None:
        return out
    scale, presence, data = frame
    if not presence:
        return codec.decode_floats(scale, data, size, lo, hi)
    bits = np.frombuffer(codec.decompress(presence, (size + 7) // 8), np.uint8)
    mask = np.unpackbits(bits, count=size).astype(bool)
    before, inside = int(np.count_nonzero(mask[:lo])), mask[lo:hi]
    count = int(np.count_nonzero(inside))
    if count:
        total = int(np.count_nonzero(mask))
        out[inside] = codec.decode_floats(scale, data, total, before, before + count)
    return out


# -- blobs: a segment's bytes in a snapshot ----------------------------------------------


def encode(segment: Segment) -> bytes:
    """The frames and the index; not the run index (regular bits, summaries): a segment's
    bytes stay a function of its rows, whichever path (seal, merge, renumbering) made it,
    and a restored segment reads by decoding, with the same answers."""
    if not isinstance(segment, Segment):  # a part being sealed: the segment it becomes
        segment = segment.segment()
    return msgpack.packb([
        FORMAT_VERSION, segment.number, segment.rows,
        *(np.ascontiguousarray(x, dtype="<i8").tobytes()
          for x in (segment.sensors, segment.starts, segment.min_ts, segment.max_ts)),
        list(segment.ts_frames),
        [[metric, [[block, *frame] for block, frame in sorted(blocks.items())]]
         for metric, blocks in sorted(segment.columns.items())],
    ], use_bin_type=True)


def decode(blob: bytes) -> Segment:
    version, number, rows, sensors, starts, min_ts, max_ts, ts_frames, columns = msgpack.unpackb(blob)
    if version != FORMAT_VERSION:
        raise ValueError(f"unsupported segment format {version!r}")
    arrays = [np.frombuffer(x, dtype="<i8").astype(np.int64) for x in (sensors, starts, min_ts, max_ts)]
    return Segment(number, rows, *arrays, tuple(ts_frames),
                   {metric: {block: (scale, presence, data) for block, scale, presence, data in blocks}
                    for metric, blocks in columns})
