"""A frozen copy of the segment build as it was before the build-CPU work (segment.seal
and the encode side of py at 605dfc3): the reference test_build_identity.py
compares the current build with, byte for byte, in the same process (same libzstd)."""

from __future__ import annotations

import numpy as np
import zstandard

from lithair_node.machine.engine.segment import BLOCK_ROWS, Segment

MAX_DECIMALS = 6
RAW = -1
_EXACT_LIMIT = float(2**53)
_SAMPLE = 64
_FACTORS = 10.0 ** np.arange(MAX_DECIMALS + 1)[:, None]
_COMPRESSOR = zstandard.ZstdCompressor(level=3)  # tests use it from one thread


def _zigzag(x: np.ndarray) -> np.ndarray:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _zstd(data: bytes) -> bytes:
    return bytes(memoryview(_COMPRESSOR.compress(data)))


def _shuffled(words: np.ndarray) -> bytes:
    """Byte i of every 8-byte word together: slowly varying words leave long zero runs."""
    return _zstd(np.ascontiguousarray(words.view(np.uint8).reshape(-1, 8).T).tobytes())


def encode_timestamps(ts: np.ndarray) -> bytes:
    deltas = np.diff(ts, prepend=np.int64(0))  # [ts0, d1, d2, ...]
    deltas[2:] = np.diff(deltas[1:])  # [ts0, d1, d2 - d1, ...]
    return _shuffled(_zigzag(deltas))


def _exact_at(values: np.ndarray, decimals: int) -> bool | None:
    """Whether `decimals` represent every value exactly; None when too large to try more."""
    factor = 10.0**decimals
    scaled = np.rint(values * factor) + 0.0  # as decoding sees it: -0.0 becomes 0.0
    if np.abs(scaled).max(initial=0.0) >= _EXACT_LIMIT:
        return None
    return bool(((scaled / factor).view(np.uint64) == values.view(np.uint64)).all())


def _inexact_on_sample(values: np.ndarray) -> np.ndarray:
    """Per decimals 0..MAX_DECIMALS: the sample proves them inexact (not merely too large)."""
    sample = values[:_SAMPLE]
    scaled = np.rint(sample * _FACTORS) + 0.0
    fits = np.abs(scaled).max(axis=1) < _EXACT_LIMIT
    return fits & ((scaled / _FACTORS).view(np.uint64) != sample.view(np.uint64)).any(axis=1)


def decimal_scale(values: np.ndarray, hint: int = RAW) -> int:
    """`hint` if it represents every value exactly, else the fewest decimals d <=
    MAX_DECIMALS that do, or RAW (deterministic: it depends only on the values and hint)."""
    if hint >= 0 and _exact_at(values, hint):
        return hint
    # Decimals a sample is not exact at cannot be exact for the block (the answer is
    # unchanged): raw readings fail every try on the sample, in one pass for all of them.
    hopeless = _inexact_on_sample(values) if values.shape[0] > _SAMPLE else np.zeros(MAX_DECIMALS + 1, bool)
    for decimals in range(MAX_DECIMALS + 1):
        if hopeless[decimals]:
            continue
        exact = _exact_at(values, decimals)
        if exact is None:
            return RAW
        if exact:
            return decimals
    return RAW


def encode_floats(values: np.ndarray, hint: int = RAW) -> tuple[int, bytes]:
    decimals = decimal_scale(values, hint)
    if decimals == RAW:
        return RAW, _shuffled(values.view(np.uint64))
    integers = np.rint(values * 10.0**decimals).astype(np.int64)
    return decimals, _shuffled(_zigzag(np.diff(integers, prepend=np.int64(0))))


def _shuffled_rows(words: np.ndarray) -> list[bytes]:
    """The uncompressed _shuffled() planes of each row of a (blocks x n) uint64 array."""
    if not words.shape[0]:
        return []
    planes = np.ascontiguousarray(words.view(np.uint8).reshape(words.shape[0], -1, 8).transpose(0, 2, 1))
    flat = planes.reshape(words.shape[0], -1).tobytes()
    size = planes.shape[1] * planes.shape[2]
    return [flat[i * size : (i + 1) * size] for i in range(words.shape[0])]


def compress_many(pieces: list[bytes]) -> list[bytes]:
    if not pieces:
        return []
    found = _COMPRESSOR.multi_compress_to_buffer(pieces, threads=0)
    return [bytes(found[i]) for i in range(len(pieces))]


def timestamp_planes(blocks: np.ndarray) -> list[bytes]:
    """encode_timestamps' input to zstd for each row of (blocks x n) int64, not compressed."""
    deltas = np.diff(blocks, axis=1, prepend=np.zeros((blocks.shape[0], 1), np.int64))
    if blocks.shape[1] > 2:
        deltas[:, 2:] = np.diff(deltas[:, 1:], axis=1)
    return _shuffled_rows(_zigzag(deltas))


def fewest_decimals(blocks: np.ndarray) -> np.ndarray:
    """decimal_scale(row, RAW) of every row of a (blocks x n) float64 array (no NaN), in
    one pass per decimals still tried: the sample rules out most of them at once."""
    found = np.full(blocks.shape[0], RAW, dtype=np.int64)
    if not blocks.shape[0]:
        return found
    sample = blocks[:, :_SAMPLE]
    open_rows = np.ones(blocks.shape[0], dtype=bool)
    for decimals in range(MAX_DECIMALS + 1):
        factor = 10.0**decimals
        scaled = np.rint(sample * factor) + 0.0
        hopeless = (np.abs(scaled).max(axis=1) < _EXACT_LIMIT) & (
            (scaled / factor).view(np.uint64) != sample.view(np.uint64)).any(axis=1)
        if blocks.shape[1] <= _SAMPLE:
            hopeless[:] = False
        rows = np.flatnonzero(open_rows & ~hopeless)
        if not rows.shape[0]:
            continue
        mine = blocks[rows]
        scaled = np.rint(mine * factor) + 0.0
        large = np.abs(scaled).max(axis=1) >= _EXACT_LIMIT
        exact = ((scaled / factor).view(np.uint64) == mine.view(np.uint64)).all(axis=1)
        open_rows[rows[large | exact]] = False
        found[rows[exact & ~large]] = decimals
    return found


def chained_scale(block: np.ndarray, fewest: int, hint: int) -> int:
    """decimal_scale(block, hint), knowing fewest = decimal_scale(block, RAW). Only a hint
    above fewest can differ: one below it failed the search, and a search that ended RAW
    failed every decimals (or the values grew too large, and larger decimals are larger)."""
    if 0 <= fewest < hint:
        return hint if _exact_at(block, hint) else fewest
    return fewest


def float_planes(blocks: np.ndarray, scale: int) -> list[bytes]:
    """encode_floats' input to zstd for each row of (blocks x n) float64, all at `scale`."""
    if scale == RAW:
        return _shuffled_rows(blocks.view(np.uint64))
    integers = np.rint(blocks * 10.0**scale).astype(np.int64)
    first = np.zeros((blocks.shape[0], 1), np.int64)
    return _shuffled_rows(_zigzag(np.diff(integers, axis=1, prepend=first)))


compress = _zstd


def seal(number: int, sensor: np.ndarray, ts: np.ndarray, row: np.ndarray, metric: np.ndarray,
         value: np.ndarray, order: np.ndarray | None = None) -> Segment:
    """A segment holding the hot buffer's columns (rows and their value triples, none NaN);
    `order`: by_sensor_then_ts of them, if already known."""
    order = by_sensor_then_ts(sensor, ts) if order is None else order
    rank = np.empty(order.shape[0], dtype=np.int64)
    rank[order] = np.arange(order.shape[0])
    sensor, ts, row = sensor[order].astype(np.int64), ts[order], rank[row]
    n = ts.shape[0]
    held = np.flatnonzero(np.bincount(metric, minlength=1)) if metric.shape[0] else metric
    if held.shape[0] * n <= 2 * metric.shape[0] + n:  # dense enough: a scatter, no sort
        columns = dense_columns(held, scattered(held, row, metric, value, n))
    else:
        columns = _sparse_columns(row, metric, value, n)
    return assemble(number, sensor, ts, columns)


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
    slot[held] = np.arange(held.shape[0])
    dense = np.full((held.shape[0], n), np.nan)
    dense[slot[metric], rows] = value
    return dense


def dense_columns(held: np.ndarray, dense: np.ndarray) -> dict[int, dict[int, tuple[int, bytes, bytes]]]:
    """The frames _sparse_columns gives, byte for byte, from (metrics x rows), NaN absent."""
    return {m: column_blocks(column) for m, column in zip(held.tolist(), dense, strict=True)}


def timestamp_frames(ts: np.ndarray) -> tuple[bytes, ...]:
    """encode_timestamps of each block, the full blocks in a few passes."""
    full = ts.shape[0] // BLOCK_ROWS
    planes = timestamp_planes(ts[: full * BLOCK_ROWS].reshape(full, BLOCK_ROWS))
    frames = compress_many(planes)
    if ts.shape[0] > full * BLOCK_ROWS:
        frames.append(encode_timestamps(ts[full * BLOCK_ROWS :]))
    return tuple(frames)


def column_blocks(column: np.ndarray) -> dict[int, tuple[int, bytes, bytes]]:
    """One metric's frames from its values of every row (NaN absent), as metric_blocks: the
    full blocks without a NaN (the usual column) in a few passes, their scales chained
    block to block as decimal_scale would; the others one at a time."""
    full = column.shape[0] // BLOCK_ROWS
    body = column[: full * BLOCK_ROWS].reshape(full, BLOCK_ROWS)
    clean = ~np.isnan(body).any(axis=1)
    clean_blocks = np.flatnonzero(clean)
    fewest = fewest_decimals(body[clean_blocks]).tolist()
    slot = np.cumsum(clean) - 1  # block -> its row in fewest
    blocks: dict[int, tuple[int, bytes, bytes]] = {}
    scales: dict[int, int] = {}
    hint = RAW
    for block, is_clean, row in zip(range(-(-column.shape[0] // BLOCK_ROWS)),
                                    [*clean.tolist(), False], [*slot.tolist(), -1], strict=False):
        if is_clean:
            hint = scales[block] = chained_scale(body[block], fewest[row], hint)
            continue
        chunk = column[block * BLOCK_ROWS : (block + 1) * BLOCK_ROWS]
        mask = ~np.isnan(chunk)
        present = int(np.count_nonzero(mask))
        if not present:
            continue
        presence = b""
        if present < chunk.shape[0]:
            presence = compress(np.packbits(mask).tobytes())
            chunk = chunk[mask]
        hint, frame = encode_floats(chunk, hint)
        blocks[block] = (hint, presence, frame)
    order, planes = [], []
    for scale in sorted(set(scales.values())):
        mine = [b for b, s in scales.items() if s == scale]
        order += mine
        planes += float_planes(body[mine], scale)
    for block, frame in zip(order, compress_many(planes), strict=True):
        blocks[block] = (scales[block], b"", frame)
    return dict(sorted(blocks.items()))


def _sparse_columns(new_row: np.ndarray, metric: np.ndarray, value: np.ndarray,
                    n: int) -> dict[int, dict[int, tuple[int, bytes, bytes]]]:
    by_metric = np.lexsort((new_row, metric))  # values grouped by metric, in row order
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
    hint = RAW  # the previous block's scale, tried first (neighbouring blocks agree)
    block_of = rows // BLOCK_ROWS
    cuts = np.flatnonzero(np.diff(block_of, prepend=-1))
    for a, b in zip(cuts.tolist(), [*cuts[1:].tolist(), rows.shape[0]], strict=True):
        block = int(block_of[a])
        size = min(BLOCK_ROWS, n - block * BLOCK_ROWS)
        presence = b""
        if b - a < size:
            bitmap = np.zeros(size, dtype=bool)
            bitmap[rows[a:b] - block * BLOCK_ROWS] = True
            presence = compress(np.packbits(bitmap).tobytes())
        scale, frame = encode_floats(values[a:b], hint)
        hint = scale
        blocks[block] = (scale, presence, frame)
    return blocks
