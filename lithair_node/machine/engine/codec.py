"""Lossless column codecs of sealed segments (the shapes of Gorilla / Prometheus chunks and
InfluxDB TSM, built from numpy passes and zstd instead of bit-level Python):

- timestamps: delta-of-delta, zigzag, byte-shuffled, zstd (regular intervals -> zeros);
- floats: decimal scaling where it is exact (v == round(v * 10**d) / 10**d bit for bit, for
  every value of the block), then deltas of the integers, zigzag, shuffle, zstd; otherwise
  the raw float64 bytes shuffled and zstd-compressed.

A frame is (scale, bytes): scale -1 means raw float64, -2 an int64 timestamp frame.
"""

from __future__ import annotations

import threading

import numpy as np
import zstandard

ZSTD_LEVEL = 3
MAX_DECIMALS = 6
RAW = -1
TIMESTAMPS = -2
_EXACT_LIMIT = float(2**53)
_SAMPLE = 64



class _Codecs(threading.local):
    """One zstd (de)compressor per thread: python-zstandard's objects must not be used by
    two threads at once, and the builder thread decodes merge inputs and encodes segments
    while the apply thread's dedup and the query threads decode blocks (a shared
    decompressor reported "Data corruption detected", then segfaulted)."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.decompressor = zstandard.ZstdDecompressor()


_codecs = _Codecs()


def _zigzag(x: np.ndarray) -> np.ndarray:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(z: np.ndarray) -> np.ndarray:
    return ((z >> np.uint64(1)).view(np.int64)) ^ -((z & np.uint64(1)).view(np.int64))


def _zstd(data: bytes) -> bytes:
    """zstd frame of `data`, held in exactly its own size. python-zstandard's compress()
    allocates ZSTD_compressBound(len(data)) and only shrinks the bytes' length, not its
    block: a 19-byte frame of a 32 KiB block kept 32,984 bytes of heap. Frames live as long
    as their segment, so the copy (of the compressed size) pays for itself at once."""
    return bytes(memoryview(_codecs.compressor.compress(data)))


def _shuffled(words: np.ndarray) -> bytes:
    """Byte i of every 8-byte word together: slowly varying words leave long zero runs."""
    return _zstd(np.ascontiguousarray(words.view(np.uint8).reshape(-1, 8).T).tobytes())


def _unshuffled(frame: bytes, n: int, hi: int | None = None, lo: int = 0) -> np.ndarray:
    """Words [lo, hi) of a frame of n: only those are transposed (a read of a few rows)."""
    planes = np.frombuffer(_codecs.decompressor.decompress(frame, max_output_size=8 * n), np.uint8)
    return unshuffled_planes(planes, n, hi, lo)


def unshuffled_planes(planes: np.ndarray, n: int, hi: int | None = None, lo: int = 0) -> np.ndarray:
    """_unshuffled of a frame already decompressed (uint8, 8 x n bytes)."""
    hi = n if hi is None else hi
    out = np.empty((hi - lo, 8), dtype=np.uint8)
    np.copyto(out.T, planes.reshape(8, n)[:, lo:hi])  # into the transposed view: ~2x a copy
    return out.view(np.uint64).reshape(hi - lo)


def encode_timestamps(ts: np.ndarray) -> bytes:
    deltas = np.diff(ts, prepend=np.int64(0))  # [ts0, d1, d2, ...]
    deltas[2:] = np.diff(deltas[1:])  # [ts0, d1, d2 - d1, ...]
    return _shuffled(_zigzag(deltas))


def decode_timestamps(frame: bytes, n: int, hi: int | None = None) -> np.ndarray:
    """The first `hi` (None: all n) timestamps of a frame."""
    return timestamps_of_words(_unshuffled(frame, n, hi))


def timestamps_of_words(words: np.ndarray) -> np.ndarray:
    """decode_timestamps of a frame's first words, unshuffled (consumed)."""
    deltas = _unzigzag(words)
    if deltas.shape[0] > 2:
        deltas[1:] = np.cumsum(deltas[1:])
    return np.cumsum(deltas)


def _exact_at(values: np.ndarray, decimals: int) -> bool | None:
    """Whether `decimals` represent every value exactly; None when too large to try more."""
    factor = 10.0**decimals
    scaled = np.rint(values * factor) + 0.0  # as decoding sees it: -0.0 becomes 0.0
    if np.abs(scaled).max(initial=0.0) >= _EXACT_LIMIT:
        return None
    return bool(((scaled / factor).view(np.uint64) == values.view(np.uint64)).all())


_FACTORS = 10.0 ** np.arange(MAX_DECIMALS + 1)[:, None]


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


def decode_floats(scale: int, frame: bytes, n: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Values [lo, hi) of a frame of n (a scaled frame is a running sum: its prefix decoded)."""
    if scale == RAW:
        return _unshuffled(frame, n, hi, lo).view(np.float64)
    return floats_of_words(scale, _unshuffled(frame, n, hi), lo)


def floats_of_words(scale: int, words: np.ndarray, lo: int = 0) -> np.ndarray:
    """decode_floats' values [lo, len(words)) of a scaled frame's first words, unshuffled
    (a running sum: every word from the frame's first is needed)."""
    return (np.cumsum(_unzigzag(words)).astype(np.float64) / 10.0**scale)[lo:]


def decompress_many(frames: list[bytes], sizes: list[int]) -> list[np.ndarray]:
    """Each frame decompressed (uint8, `sizes` bytes each), in one zstd call when several."""
    if len(frames) == 1:
        return [np.frombuffer(decompress(frames[0], sizes[0]), np.uint8)]
    found = _codecs.decompressor.multi_decompress_to_buffer(
        frames, decompressed_sizes=np.array(sizes, dtype=np.uint64), threads=0)
    return [np.frombuffer(found[i], np.uint8) for i in range(len(frames))]


# -- many blocks at once: byte for byte the frames of the per-block functions above, in a
# few large numpy passes and one zstd call (a segment build off the apply path then takes
# the GIL back a few dozen times, not thousands: see engine/sealing.py)


def _shuffled_rows(words: np.ndarray) -> list[np.ndarray]:
    """The uncompressed _shuffled() planes of each row of a (blocks x n) uint64 array, as
    contiguous uint8 rows of one array (zstd reads them in place: no bytes copies)."""
    if not words.shape[0]:
        return []
    planes = np.empty((words.shape[0], 8, words.shape[1]), dtype=np.uint8)
    np.copyto(planes.transpose(0, 2, 1), words.view(np.uint8).reshape(words.shape[0], -1, 8))
    return list(planes.reshape(words.shape[0], -1))


def compress_many(pieces: list[np.ndarray] | list[bytes]) -> list[bytes]:
    """compress() of each piece, in one call (zstd's multi-frame API: the same frames)."""
    if not pieces:
        return []
    found = _codecs.compressor.multi_compress_to_buffer(pieces, threads=0)
    return [bytes(found[i]) for i in range(len(pieces))]


def _zigzag_inplace(x: np.ndarray) -> np.ndarray:
    """_zigzag(x) into x's own memory (x is consumed), one temporary."""
    sign = np.right_shift(x, 63)
    np.left_shift(x, 1, out=x)
    np.bitwise_xor(x, sign, out=x)
    return x.view(np.uint64)


def _deltas(blocks: np.ndarray) -> np.ndarray:
    """np.diff(row, prepend=0) of each row of (blocks x n) int64, without a concatenation."""
    out = np.empty_like(blocks)
    out[:, 0] = blocks[:, 0]
    np.subtract(blocks[:, 1:], blocks[:, :-1], out=out[:, 1:])
    return out


def timestamp_planes(blocks: np.ndarray) -> list[np.ndarray]:
    """encode_timestamps' input to zstd for each row of (blocks x n) int64, not compressed."""
    deltas = _deltas(blocks)
    if blocks.shape[1] > 2:  # [ts0, d1, d2 - d1, ...]
        deltas[:, 2:] = np.diff(deltas[:, 1:], axis=1)
    return _shuffled_rows(_zigzag_inplace(deltas))


def fewest_decimals(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """decimal_scale(row, RAW) of every row of a (blocks x n) float64 array (no NaN), and
    rint(row * 10**d) + 0.0 at the d found (rows found RAW: zeros). The sample rules out
    most decimals of every row in one small pass; each decimals still open is then tried on
    the rows left, in place (the scaled rows are what float_planes encodes)."""
    found = np.full(blocks.shape[0], RAW, dtype=np.int64)
    scaled_at: np.ndarray | None = None  # the usual column: every row found at once
    if not blocks.shape[0]:
        return found, np.zeros_like(blocks)
    sample = blocks[:, :_SAMPLE]
    tried = np.rint(sample[None] * _FACTORS[:, :, None]) + 0.0  # (decimals, blocks, sample)
    hopeless = (np.abs(tried).max(axis=2) < _EXACT_LIMIT) & (
        (tried / _FACTORS[:, :, None]).view(np.uint64) != sample.view(np.uint64)).any(axis=2)
    if blocks.shape[1] <= _SAMPLE:
        hopeless[:] = False
    open_rows = np.ones(blocks.shape[0], dtype=bool)
    for decimals in range(MAX_DECIMALS + 1):
        rows = np.flatnonzero(open_rows & ~hopeless[decimals])
        if not rows.shape[0]:
            continue
        every = rows.shape[0] == blocks.shape[0]
        mine = blocks if every else blocks[rows]
        factor = 10.0**decimals
        scaled = np.multiply(mine, factor)
        np.rint(scaled, out=scaled)
        scaled += 0.0  # as decoding sees it: -0.0 becomes 0.0
        # |rint(x)| >= 2**53 exactly when |x| does; max/min spare an abs() temporary.
        large = (scaled.max(axis=1) >= _EXACT_LIMIT) | (scaled.min(axis=1) <= -_EXACT_LIMIT)
        back = np.divide(scaled, factor)
        exact = (back.view(np.uint64) == mine.view(np.uint64)).all(axis=1)
        good = exact & ~large
        if every and good.all():
            scaled_at = scaled
        elif good.any():
            scaled_at = np.zeros_like(blocks) if scaled_at is None else scaled_at
            scaled_at[rows[good]] = scaled[good]
        open_rows[rows[large | exact]] = False
        found[rows[good]] = decimals
    return found, np.zeros_like(blocks) if scaled_at is None else scaled_at


def chained_scale(block: np.ndarray, fewest: int, hint: int) -> int:
    """decimal_scale(block, hint), knowing fewest = decimal_scale(block, RAW). Only a hint
    above fewest can differ: one below it failed the search, and a search that ended RAW
    failed every decimals (or the values grew too large, and larger decimals are larger)."""
    if 0 <= fewest < hint:
        return hint if _exact_at(block, hint) else fewest
    return fewest


def float_planes(blocks: np.ndarray, scales: np.ndarray, fewest: np.ndarray,
                 scaled: np.ndarray) -> list[np.ndarray]:
    """encode_floats' input to zstd for each row of (blocks x n) float64 at its scale
    (RAW: the raw words), given fewest_decimals' (fewest, scaled): a row whose scale is
    its fewest is not scaled again. `scaled` is consumed."""
    if not blocks.shape[0]:
        return []
    raw = scales == RAW
    for row in np.flatnonzero((scales != fewest) & ~raw).tolist():  # a chained (larger) scale
        scaled[row] = np.rint(blocks[row] * 10.0 ** int(scales[row]))
    scaled[raw] = 0.0
    words = _zigzag_inplace(_deltas(scaled.astype(np.int64)))
    words[raw] = blocks[raw].view(np.uint64)
    return _shuffled_rows(words)


def compress(data: bytes) -> bytes:
    return _zstd(data)


def decompress(frame: bytes, size: int) -> bytes:
    return _codecs.decompressor.decompress(frame, max_output_size=size)
